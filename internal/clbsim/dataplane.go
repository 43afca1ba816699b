package clbsim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

const dataPlaneDialTimeout = 5 * time.Second

// errNoBackend means no healthy backend with weight > 0 inside ProbeCIDRs.
var errNoBackend = errors.New("no healthy backend")

// dataPlane holds the local ports that forward traffic to backends.
type dataPlane struct {
	mu         sync.Mutex
	forwarders map[string]*forwarder // by lbID + "/" + listenerID
	transport  *http.Transport
}

// forwarder is one listener's local port.
type forwarder struct {
	lbID, listenerID string
	ln               net.Listener
	server           *http.Server // L7 only
	mu               sync.Mutex
	conns            map[net.Conn]struct{} // L4 connections, closed by Close
}

func (d *dataPlane) init() { d.forwarders = map[string]*forwarder{} }

// ServeListener opens a TCP port on 127.0.0.1 for the listener and forwards
// each new connection (L4) or request (HTTP/HTTPS, as plain HTTP) to a backend
// chosen by weight among the healthy ones with weight > 0 inside ProbeCIDRs.
// Calling it again returns the same address.
func (s *Sim) ServeListener(lbID, listenerID string) (string, error) {
	s.mu.Lock()
	lb := s.lbs[lbID]
	var l *listener
	if lb != nil {
		l = lb.listeners[listenerID]
	}
	s.mu.Unlock()
	if l == nil {
		return "", fmt.Errorf("serve listener %s/%s: not found", lbID, listenerID)
	}
	if portFamily(l.protocol) != "tcp" {
		return "", fmt.Errorf("serve listener %s: %s forwarding is not supported", listenerID, l.protocol)
	}
	s.dp.mu.Lock()
	defer s.dp.mu.Unlock()
	if f := s.dp.forwarders[lbID+"/"+listenerID]; f != nil {
		return f.ln.Addr().String(), nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("serve listener %s: %w", listenerID, err)
	}
	f := &forwarder{lbID: lbID, listenerID: listenerID, ln: ln, conns: map[net.Conn]struct{}{}}
	s.dp.forwarders[lbID+"/"+listenerID] = f
	if isL7(l.protocol) {
		f.server = &http.Server{Handler: s.httpForwarder(f), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = f.server.Serve(ln) }()
	} else {
		go s.acceptLoop(f)
	}
	return ln.Addr().String(), nil
}

func (s *Sim) acceptLoop(f *forwarder) {
	for {
		conn, err := f.ln.Accept()
		if err != nil {
			return
		}
		go s.forwardConn(f, conn)
	}
}

// forwardConn pipes one client connection to a backend.
func (s *Sim) forwardConn(f *forwarder, client net.Conn) {
	defer func() { _ = client.Close() }()
	addr, err := s.pickBackend(f.lbID, f.listenerID, "", "")
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), dataPlaneDialTimeout)
	upstream, err := s.dial(ctx, "tcp", addr)
	cancel()
	if err != nil {
		return
	}
	defer func() { _ = upstream.Close() }()
	if !f.track(client, upstream) {
		return
	}
	defer f.untrack(client, upstream)
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(upstream, client)
	go pipe(client, upstream)
	<-done
	<-done
}

// track registers live connections; it refuses them once the forwarder closed.
func (f *forwarder) track(conns ...net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.conns == nil {
		return false
	}
	for _, c := range conns {
		f.conns[c] = struct{}{}
	}
	return true
}

func (f *forwarder) untrack(conns ...net.Conn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range conns {
		delete(f.conns, c)
	}
}

func (f *forwarder) close() {
	_ = f.ln.Close()
	if f.server != nil {
		_ = f.server.Close()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for c := range f.conns {
		_ = c.Close()
	}
	f.conns = nil
}

// httpForwarder proxies each request to a backend of the rule matching Host and path.
func (s *Sim) httpForwarder(f *forwarder) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		addr, err := s.pickBackend(f.lbID, f.listenerID, host, r.URL.Path)
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		proxy := &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.SetURL(&url.URL{Scheme: "http", Host: addr})
				pr.Out.Host = pr.In.Host
			},
			Transport: s.dp.httpTransport(s.dial),
		}
		proxy.ServeHTTP(w, r)
	})
}

func (d *dataPlane) httpTransport(dial func(context.Context, string, string) (net.Conn, error)) *http.Transport {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.transport == nil {
		d.transport = &http.Transport{DialContext: dial, MaxIdleConnsPerHost: 4, IdleConnTimeout: 30 * time.Second}
	}
	return d.transport
}

// pickBackend chooses a backend address by weight. For L7 listeners it
// first picks the rule: matching domain, then the longest matching URL prefix.
func (s *Sim) pickBackend(lbID, listenerID, host, path string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settle()
	lb := s.lbs[lbID]
	if lb == nil || lb.listeners[listenerID] == nil {
		return "", fmt.Errorf("listener %s/%s: %w", lbID, listenerID, errNoBackend)
	}
	l := lb.listeners[listenerID]
	var r *rule
	list := l.backends
	if isL7(l.protocol) {
		if r = matchRule(l, host, path); r == nil {
			return "", fmt.Errorf("no rule for %s%s: %w", host, path, errNoBackend)
		}
		list = r.backends
	}
	eligible := make([]*backend, 0, len(list))
	total := int64(0)
	for _, b := range list {
		if s.inProbeCIDRs(b.ip()) && servesTraffic(s.healthStatus(lbID, l, r, b), b) {
			eligible = append(eligible, b)
			total += b.weight
		}
	}
	if total == 0 {
		return "", errNoBackend
	}
	n := rand.Int64N(total)
	for _, b := range eligible {
		if n < b.weight {
			return net.JoinHostPort(b.ip(), strconv.FormatInt(b.port, 10)), nil
		}
		n -= b.weight
	}
	return "", errNoBackend
}

// matchRule returns the rule for host whose URL is the longest prefix of path.
func matchRule(l *listener, host, path string) *rule {
	var best *rule
	for _, r := range l.sortedRules() {
		if !domainMatches(r.domain, host) || !strings.HasPrefix(path, r.url) {
			continue
		}
		if best == nil || len(r.url) > len(best.url) {
			best = r
		}
	}
	return best
}

func domainMatches(pattern, host string) bool {
	if suffix, ok := strings.CutPrefix(pattern, "*"); ok {
		return strings.HasSuffix(host, suffix)
	}
	return strings.EqualFold(pattern, host)
}

// closeListener stops forwarding for one listener. It never waits, so it is
// safe to call with s.mu held.
func (d *dataPlane) closeListener(lbID, listenerID string) {
	d.mu.Lock()
	f := d.forwarders[lbID+"/"+listenerID]
	delete(d.forwarders, lbID+"/"+listenerID)
	d.mu.Unlock()
	if f != nil {
		f.close()
	}
}

// closeLB stops forwarding for every listener of an LB.
func (d *dataPlane) closeLB(lbID string) {
	d.mu.Lock()
	var doomed []*forwarder
	for k, f := range d.forwarders {
		if f.lbID == lbID {
			doomed = append(doomed, f)
			delete(d.forwarders, k)
		}
	}
	d.mu.Unlock()
	for _, f := range doomed {
		f.close()
	}
}

func (d *dataPlane) closeAll() {
	d.mu.Lock()
	all := d.forwarders
	d.forwarders = map[string]*forwarder{}
	tr := d.transport
	d.mu.Unlock()
	for _, f := range all {
		f.close()
	}
	if tr != nil {
		tr.CloseIdleConnections()
	}
}
