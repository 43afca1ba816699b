package clbsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
)

// AdminHandler serves the admin JSON API (a separate port in the binary):
//
//	GET    /state                   the whole state (DumpState)
//	GET    /calls, DELETE /calls    call counters by action and result; reset
//	GET    /metrics                 the same counters as Prometheus metrics
//	POST   /faults, DELETE /faults  add a Fault (JSON; Delay in nanoseconds); clear all
//	PUT    /latency                 replace the Latency model (JSON; durations in nanoseconds, BusyFixed and BusyPerTarget included)
//	PUT    /qps                     {"Action":"RegisterTargets","QPS":5}; Action "" = default
//	PUT    /foreignqps              {"Action":"RegisterTargets","QPS":10}: other clients' share of the limit (SetForeignQPS); Action "" = every action
//	POST   /health                  {"Selector":{...HealthSelector},"State":"Alive"}
//	POST   /loadbalancers           {"Name":"x"} → {"LoadBalancerId":"lb-…"}
//	POST   /listeners               {"LoadBalancerId","Protocol","Port"} → {"ListenerId":"lbl-…"}
//	DELETE /listeners/{lb}/{listener}
//	POST   /rules                   {"LoadBalancerId","ListenerId","Domain","Url"} → {"LocationId":"loc-…"}
//	POST   /serve                   {"LoadBalancerId","ListenerId"} → {"Addr":"127.0.0.1:port"}
//	PUT    /vpcs/{vpc}              ["10.0.0.0/16",...]: the VPC's CIDRs; [] = the RFC 1918 default
//	PUT    /loadbalancers/{lb}/crossvpc  {"SnatPro":true,"Routed":["172.20.0.0/16"]}
//	PUT    /targetshape             {"ENIType":"cvm","CVMType":"","ENITargetID":"instance"} (TargetShape)
//
// Bodies are decoded case-insensitively, so "LoadBalancerId" and "LoadBalancerID" both work.
func (s *Sim) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /state", s.adminState)
	mux.HandleFunc("GET /calls", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, s.Calls()) })
	mux.HandleFunc("DELETE /calls", func(w http.ResponseWriter, _ *http.Request) { s.ResetCalls(); writeJSON(w, struct{}{}) })
	mux.Handle("GET /metrics", s.metricsHandler())
	mux.HandleFunc("POST /faults", adminBody(func(f Fault) (any, error) { s.InjectFault(f); return f, nil }))
	mux.HandleFunc("DELETE /faults", func(w http.ResponseWriter, _ *http.Request) { s.ClearFaults(); writeJSON(w, struct{}{}) })
	mux.HandleFunc("PUT /latency", adminBody(func(l Latency) (any, error) { s.SetLatency(l); return l, nil }))
	mux.HandleFunc("PUT /qps", adminBody(s.adminQPS))
	mux.HandleFunc("PUT /foreignqps", adminBody(func(req qpsRequest) (any, error) { s.SetForeignQPS(req.Action, req.QPS); return req, nil }))
	mux.HandleFunc("POST /health", adminBody(s.adminHealth))
	mux.HandleFunc("POST /loadbalancers", adminBody(s.adminAddLB))
	mux.HandleFunc("POST /listeners", adminBody(s.adminAddListener))
	mux.HandleFunc("DELETE /listeners/{lb}/{listener}", func(w http.ResponseWriter, r *http.Request) {
		s.DeleteListener(r.PathValue("lb"), r.PathValue("listener"))
		writeJSON(w, struct{}{})
	})
	mux.HandleFunc("POST /rules", adminBody(s.adminAddRule))
	mux.HandleFunc("POST /serve", adminBody(s.adminServe))
	mux.HandleFunc("PUT /vpcs/{vpc}", func(w http.ResponseWriter, r *http.Request) {
		adminBody(func(cidrs []netip.Prefix) (any, error) {
			s.SetVPCCIDRs(r.PathValue("vpc"), cidrs)
			return cidrs, nil
		})(w, r)
	})
	mux.HandleFunc("PUT /loadbalancers/{lb}/crossvpc", func(w http.ResponseWriter, r *http.Request) {
		adminBody(func(req crossVPCRequest) (any, error) {
			return req, s.SetCrossVPC(r.PathValue("lb"), req.SnatPro, req.Routed)
		})(w, r)
	})
	mux.HandleFunc("PUT /loadbalancers/{lb}/tags", func(w http.ResponseWriter, r *http.Request) {
		adminBody(func(tags map[string]string) (any, error) {
			if !s.SetLoadBalancerTags(r.PathValue("lb"), tags) {
				return nil, fmt.Errorf("load balancer %q not found", r.PathValue("lb"))
			}
			return tags, nil
		})(w, r)
	})
	mux.HandleFunc("PUT /targetshape", adminBody(func(ts TargetShape) (any, error) {
		if err := ts.validate(); err != nil {
			return nil, err
		}
		s.SetTargetShape(ts)
		return ts, nil
	}))
	return mux
}

func (s *Sim) adminState(w http.ResponseWriter, _ *http.Request) {
	b, err := s.DumpState()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

type qpsRequest struct {
	Action string
	QPS    float64
}

func (s *Sim) adminQPS(req qpsRequest) (any, error) {
	s.SetQPS(req.Action, req.QPS)
	return req, nil
}

type crossVPCRequest struct {
	SnatPro bool
	Routed  []netip.Prefix
}

type healthRequest struct {
	Selector HealthSelector
	State    string
}

func (s *Sim) adminHealth(req healthRequest) (any, error) {
	if !validHealthState(req.State) {
		return nil, fmt.Errorf("state %q is not one of Alive, Dead, Unknown, Flapping or empty", req.State)
	}
	s.SetHealth(req.Selector, req.State)
	return req, nil
}

type addRequest struct {
	Name, LoadBalancerID, ListenerID, Protocol, Domain, URL string
	Port                                                    int64
}

func (s *Sim) adminAddLB(req addRequest) (any, error) {
	return map[string]string{"LoadBalancerId": s.AddLoadBalancer(req.Name)}, nil
}

func (s *Sim) adminAddListener(req addRequest) (any, error) {
	id := s.AddListener(req.LoadBalancerID, req.Protocol, req.Port)
	if id == "" {
		return nil, fmt.Errorf("load balancer %q not found", req.LoadBalancerID)
	}
	return map[string]string{"ListenerId": id}, nil
}

func (s *Sim) adminAddRule(req addRequest) (any, error) {
	id := s.AddRule(req.LoadBalancerID, req.ListenerID, req.Domain, req.URL)
	if id == "" {
		return nil, fmt.Errorf("listener %s/%s not found", req.LoadBalancerID, req.ListenerID)
	}
	return map[string]string{"LocationId": id}, nil
}

func (s *Sim) adminServe(req addRequest) (any, error) {
	addr, err := s.ServeListener(req.LoadBalancerID, req.ListenerID)
	if err != nil {
		return nil, err
	}
	return map[string]string{"Addr": addr}, nil
}

// adminBody decodes a JSON body of type T, runs fn and writes its result.
func adminBody[T any](fn func(T) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req T
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, fmt.Sprintf("decode body: %v", err), http.StatusBadRequest)
			return
		}
		out, err := fn(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		writeJSON(w, out)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
