package clb

import (
	"strconv"
	"testing"
	"time"
)

// TestPendingTasksForgetOldEntries: the task of a load balancer never written again is dropped
// once it is older than the longest task wait, so the map does not grow with every load balancer
// the controller ever wrote to.
func TestPendingTasksForgetOldEntries(t *testing.T) {
	now := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	p := pendingTasks{maxAge: time.Minute, now: func() time.Time { return now }}
	for i := range 100 {
		p.set("lb-"+strconv.Itoa(i), "req-"+strconv.Itoa(i))
	}
	if n := p.len(); n != 100 {
		t.Fatalf("%d pending tasks, want 100", n)
	}
	now = now.Add(time.Minute + time.Second)
	p.set("lb-new", "req-new")
	if n := p.len(); n != 1 {
		t.Fatalf("%d pending tasks after the others aged out, want 1", n)
	}
	if id := p.take("lb-new"); id != "req-new" {
		t.Fatalf("take = %q, want req-new", id)
	}
	if n := p.len(); n != 0 {
		t.Fatalf("%d pending tasks after take, want 0", n)
	}
}
