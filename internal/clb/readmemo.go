package clb

import (
	"bytes"
	"crypto/sha256"
	"strings"
	"sync"
)

// A steady manager reads every backend of every load balancer again and again (the drift check
// each minute, the health poll each 30 s) and nearly always gets the answer it got last time.
// readMemo keeps, per request, a digest of the last answer's body and what it was converted to;
// an answer whose body has the same digest (its RequestId left out, the one part that differs on
// every answer) is not decoded again. That is most of the CPU and the garbage of a steady manager
// at 100,000 backends.

// answerDigest is the SHA-256 of an answer's body without the value of its RequestId. The key
// "RequestId" cannot appear unescaped inside a JSON string, so its last occurrence is the
// response's own.
func answerDigest(body []byte) [sha256.Size]byte {
	h := sha256.New()
	if start, end, ok := requestIDValue(body); ok {
		h.Write(body[:start])
		h.Write(body[end:])
	} else {
		h.Write(body)
	}
	var d [sha256.Size]byte
	h.Sum(d[:0])
	return d
}

// requestIDValue finds the string value of the last "RequestId" key of body: body[start:end] is
// the quoted value.
func requestIDValue(body []byte) (start, end int, ok bool) {
	i := bytes.LastIndex(body, []byte(`"RequestId"`))
	if i < 0 {
		return 0, 0, false
	}
	j := skipJSONSpace(body, i+len(`"RequestId"`))
	if j >= len(body) || body[j] != ':' {
		return 0, 0, false
	}
	j = skipJSONSpace(body, j+1)
	if j >= len(body) || body[j] != '"' {
		return 0, 0, false
	}
	for k := j + 1; k < len(body); k++ {
		switch body[k] {
		case '\\':
			k++ // the escaped character
		case '"':
			return j, k + 1, true
		}
	}
	return 0, 0, false
}

func skipJSONSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// memoRotateEvery bounds the memo: an entry not used during two generations of this many lookups
// and stores is dropped, so requests no longer made (a deleted load balancer, a health chunk that
// changed its members) do not stay; one made again is only decoded again.
const memoRotateEvery = 4096

// readMemo remembers the last answer to each request of one action.
type readMemo[T any] struct {
	mu                sync.Mutex
	current, previous map[string]memoEntry[T]
	ops               int
}

type memoEntry[T any] struct {
	digest [sha256.Size]byte
	value  T
}

// lookup returns the last answer to key, if remembered.
func (m *readMemo[T]) lookup(key string) (memoEntry[T], bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.current[key]
	if !ok {
		if e, ok = m.previous[key]; ok && m.current != nil {
			m.current[key] = e // kept for another generation
		}
	}
	m.tick()
	return e, ok
}

// store remembers value as the answer to key, whose body had digest.
func (m *readMemo[T]) store(key string, digest [sha256.Size]byte, value T) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.current == nil {
		m.current = map[string]memoEntry[T]{}
	}
	m.current[key] = memoEntry[T]{digest: digest, value: value}
	m.tick()
}

// tick counts a lookup or store, and starts a new generation every memoRotateEvery.
func (m *readMemo[T]) tick() {
	m.ops++
	if m.ops >= memoRotateEvery {
		m.previous, m.current, m.ops = m.current, map[string]memoEntry[T]{}, 0
	}
}

// size counts the remembered answers (tests).
func (m *readMemo[T]) size() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	keys := map[string]bool{}
	for k := range m.current {
		keys[k] = true
	}
	for k := range m.previous {
		keys[k] = true
	}
	return len(keys)
}

// memoKey is the key of a request made of the given lists of IDs.
func memoKey(parts ...[]string) string {
	var b strings.Builder
	for _, part := range parts {
		for _, id := range part {
			b.WriteString(id)
			b.WriteByte(0)
		}
		b.WriteByte(1)
	}
	return b.String()
}
