package clbsim

import (
	"cmp"
	"slices"
	"time"

	clbapi "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/clb/v20180317"
)

// Task statuses of DescribeTaskStatus.
const (
	taskSucceeded int64 = 0
	taskFailed    int64 = 1
	taskRunning   int64 = 2
)

// task is one asynchronous write. Its change is applied when it ends, so
// readers see the old state while it runs, as on the real cloud.
type task struct {
	id       string
	lbIDs    []string
	end      time.Time
	apply    func()
	status   int64
	message  string
	failWith string // non-empty: the task ends with Status 1 and this message, without applying
}

// settle finishes every pending task whose end time has passed. Callers hold s.mu.
func (s *Sim) settle() {
	now := s.now()
	slices.SortStableFunc(s.pending, func(a, b *task) int { return a.end.Compare(b.end) })
	keep := s.pending[:0]
	for _, t := range s.pending {
		if t.end.After(now) {
			keep = append(keep, t)
			continue
		}
		s.finish(t)
	}
	clear(s.pending[len(keep):])
	s.pending = keep
}

// finish applies a task and releases its load balancers.
func (s *Sim) finish(t *task) {
	if t.failWith != "" {
		t.status, t.message = taskFailed, t.failWith
	} else {
		if t.apply != nil {
			s.applyAt = t.end
			t.apply()
		}
		t.status = taskSucceeded
	}
	for _, id := range t.lbIDs {
		if lb := s.lbs[id]; lb != nil && lb.busyTask == t.id {
			lb.busyTask, lb.busyUntil = "", time.Time{}
		}
	}
}

// writableLB returns the LB if it exists and no task holds it. Callers hold s.mu.
func (s *Sim) writableLB(id *string) (*loadBalancer, error) {
	lb, err := s.lookupLB(id)
	if err != nil {
		return nil, err
	}
	if lb.busyTask != "" {
		return nil, errf(codeResourceInOperating,
			"Your task is working (%s). Pls wait for the task to complete and try again.", lb.busyTask)
	}
	return lb, nil
}

// lookupLB validates and resolves a load balancer ID. Callers hold s.mu.
func (s *Sim) lookupLB(id *string) (*loadBalancer, error) {
	if id == nil {
		return nil, errf(codeMissingParameter, "LoadBalancerId is required")
	}
	if !validID(*id, "lb-") {
		return nil, errf(codeFormatError, "LoadBalancerId %q is malformed", *id)
	}
	lb := s.lbs[*id]
	if lb == nil {
		return nil, errf(codeLBNotFound, "LoadBalancer not exist: %s", *id)
	}
	return lb, nil
}

// startTask records an asynchronous task for c on the given LBs. With a zero
// duration it completes at once; otherwise it holds the LBs until it ends.
// Callers hold s.mu and have checked that the LBs are writable.
func (s *Sim) startTask(c *call, lbIDs []string, targets int, apply func()) *task {
	lat := s.ctl.latency()
	d := lat.TaskFixed + time.Duration(targets)*lat.TaskPerTarget
	return s.startTaskFor(c, lbIDs, d, apply)
}

func (s *Sim) startTaskFor(c *call, lbIDs []string, d time.Duration, apply func()) *task {
	t := &task{id: c.requestID, lbIDs: lbIDs, end: s.now().Add(d), apply: apply, status: taskRunning}
	if c.fault != nil && c.fault.TaskFail {
		t.failWith = "injected task failure"
	}
	s.tasks[t.id] = t
	if d <= 0 {
		s.finish(t)
		return t
	}
	for _, id := range lbIDs {
		if lb := s.lbs[id]; lb != nil {
			lb.busyTask, lb.busyUntil = t.id, t.end
		}
	}
	s.pending = append(s.pending, t)
	return t
}

// holdAfter keeps a finished task's load balancers busy for d more: the real
// CLB refuses writes for a while after a large synchronous batch, whose change
// it applied before answering. DescribeTaskStatus reports the task running
// until then. A task still pending (its call was cancelled) is left alone.
// Callers hold s.mu.
func (s *Sim) holdAfter(t *task, d time.Duration) {
	if d <= 0 || t.status == taskRunning {
		return
	}
	// finish reports Status 0 again, or 1 for an injected failure; the change is already applied.
	t.apply, t.status, t.message, t.end = nil, taskRunning, "", s.now().Add(d)
	for _, id := range t.lbIDs {
		if lb := s.lbs[id]; lb != nil {
			lb.busyTask, lb.busyUntil = t.id, t.end
		}
	}
	s.pending = append(s.pending, t)
}

func (s *Sim) describeTaskStatus(c *call) (any, error) {
	req, err := decode[clbapi.DescribeTaskStatusRequestParams](c)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settle()
	var id string
	switch {
	case req.TaskId != nil && *req.TaskId != "":
		id = *req.TaskId
	case req.DealName != nil && *req.DealName != "":
		id = s.deals[*req.DealName]
	default:
		return nil, errf(codeMissingParameter, "one of TaskId and DealName is required")
	}
	t := s.tasks[id]
	if t == nil {
		return nil, errf(codeInvalidParameter, "task %q not found", id)
	}
	resp := &clbapi.DescribeTaskStatusResponseParams{Status: new(t.status), RequestId: &c.requestID}
	resp.LoadBalancerIds = ptrs(sortedCopy(t.lbIDs))
	if t.message != "" {
		return struct {
			*clbapi.DescribeTaskStatusResponseParams
			Message string
		}{resp, t.message}, nil
	}
	return resp, nil
}

func sortedCopy[T cmp.Ordered](in []T) []T {
	out := slices.Clone(in)
	slices.Sort(out)
	return out
}

func ptrs[T any](in []T) []*T {
	out := make([]*T, len(in))
	for i := range in {
		out[i] = &in[i]
	}
	return out
}

// validID reports whether id is prefix followed by 8 lowercase alphanumerics.
func validID(id, prefix string) bool {
	if len(id) != len(prefix)+8 || id[:len(prefix)] != prefix {
		return false
	}
	for _, r := range id[len(prefix):] {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

// Busy reports whether a task holds the load balancer now: a write is being
// applied, or a synchronous batch's busy time (Latency.BusyFixed) runs.
func (s *Sim) Busy(lbID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settle()
	lb := s.lbs[lbID]
	return lb != nil && lb.busyTask != ""
}
