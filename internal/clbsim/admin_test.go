package clbsim_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	clbapi "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/clb/v20180317"

	"github.com/clbind/clb-binding-controller/internal/clbsim"
)

func adminDo(t *testing.T, admin *httptest.Server, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, admin.URL+path, strings.NewReader(body))
	must(t, err)
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	must(t, err)
	return resp.StatusCode, string(b)
}

func adminID(t *testing.T, admin *httptest.Server, path, body, field string) string {
	t.Helper()
	status, out := adminDo(t, admin, http.MethodPost, path, body)
	if status != http.StatusOK {
		t.Fatalf("POST %s: %d %s", path, status, out)
	}
	var m map[string]string
	must(t, json.Unmarshal([]byte(out), &m))
	return m[field]
}

func TestAdminAPI(t *testing.T) {
	e := newEnv(t, clbsim.Options{})
	admin := httptest.NewServer(e.sim.AdminHandler())
	t.Cleanup(admin.Close)

	lbID := adminID(t, admin, "/loadbalancers", `{"Name":"adm"}`, "LoadBalancerId")
	httpID := adminID(t, admin, "/listeners", `{"LoadBalancerId":"`+lbID+`","Protocol":"HTTP","Port":80}`, "ListenerId")
	locID := adminID(t, admin, "/rules", `{"LoadBalancerId":"`+lbID+`","ListenerId":"`+httpID+`","Domain":"a.example.com","URL":"/"}`, "LocationId")
	if !lbIDPattern.MatchString(lbID) || !listenerIDPattern.MatchString(httpID) || !locationIDPattern.MatchString(locID) {
		t.Fatalf("IDs %s %s %s", lbID, httpID, locID)
	}
	req := clbapi.NewRegisterTargetsRequest()
	req.LoadBalancerId, req.ListenerId, req.LocationId, req.Targets = &lbID, &httpID, &locID, eniTargets(1)
	_, err := e.client.RegisterTargets(req)
	must(t, err)

	if status, out := adminDo(t, admin, http.MethodPost, "/health", `{"Selector":{"LoadBalancerID":"`+lbID+`"},"State":"Dead"}`); status != http.StatusOK {
		t.Fatalf("POST /health: %d %s", status, out)
	}
	if status, _ := adminDo(t, admin, http.MethodPost, "/health", `{"State":"Sleepy"}`); status != http.StatusBadRequest {
		t.Fatalf("bad health state accepted: %d", status)
	}
	if h := e.health(t, lbID); h["10.0.0.0:8080"] != "Dead" {
		t.Fatalf("health = %v", h)
	}

	adminDo(t, admin, http.MethodPost, "/faults", `{"Action":"DescribeTargets","Code":"InternalError","Count":1}`)
	dt := clbapi.NewDescribeTargetsRequest()
	dt.LoadBalancerId = &lbID
	_, err = e.client.DescribeTargets(dt)
	wantCode(t, err, "InternalError")
	adminDo(t, admin, http.MethodPost, "/faults", `{"Action":"DescribeTargets","Code":"InternalError","Rate":1}`)
	adminDo(t, admin, http.MethodDelete, "/faults", "")
	_, err = e.client.DescribeTargets(dt)
	must(t, err)

	adminDo(t, admin, http.MethodPut, "/qps", `{"Action":"DescribeTargets","QPS":1}`)
	_, err = e.client.DescribeTargets(dt)
	must(t, err)
	_, err = e.client.DescribeTargets(dt)
	wantCode(t, err, "RequestLimitExceeded")
	if status, _ := adminDo(t, admin, http.MethodPut, "/latency", `{"PerCall":0,"TaskFixed":0}`); status != http.StatusOK {
		t.Fatal("PUT /latency failed")
	}

	_, calls := adminDo(t, admin, http.MethodGet, "/calls", "")
	var counts map[string]map[string]int
	must(t, json.Unmarshal([]byte(calls), &counts))
	if counts["DescribeTargets"]["InternalError"] != 1 || counts["DescribeTargets"]["RequestLimitExceeded"] != 1 || counts["RegisterTargets"]["OK"] != 1 {
		t.Fatalf("calls = %s", calls)
	}
	_, metrics := adminDo(t, admin, http.MethodGet, "/metrics", "")
	if !strings.Contains(metrics, `clbsim_api_calls_total{action="DescribeTargets",result="RequestLimitExceeded"} 1`) {
		t.Fatalf("metrics lack the call counter:\n%s", metrics)
	}
	adminDo(t, admin, http.MethodDelete, "/calls", "")
	if len(e.sim.Calls()) != 0 {
		t.Fatal("DELETE /calls did not reset")
	}

	_, state := adminDo(t, admin, http.MethodGet, "/state", "")
	var dump struct{ LoadBalancers []struct{ ID string } }
	must(t, json.Unmarshal([]byte(state), &dump))
	if len(dump.LoadBalancers) != 1 || dump.LoadBalancers[0].ID != lbID || !strings.Contains(state, "10.0.0.0") {
		t.Fatalf("state = %s", state)
	}
	if status, out := adminDo(t, admin, http.MethodPost, "/serve", `{"LoadBalancerID":"`+lbID+`","ListenerID":"`+httpID+`"}`); status != http.StatusOK || !strings.Contains(out, "127.0.0.1:") {
		t.Fatalf("POST /serve: %d %s", status, out)
	}
	adminDo(t, admin, http.MethodDelete, "/listeners/"+lbID+"/"+httpID, "")
	if len(e.sim.Targets(lbID)) != 0 {
		t.Fatal("DELETE /listeners left targets")
	}
}

// TestAdminSetsLoadBalancerTags: tags set through the admin API, or given to CreateLoadBalancer,
// come back from DescribeLoadBalancers, where binding policies read them.
func TestAdminSetsLoadBalancerTags(t *testing.T) {
	e := newEnv(t, clbsim.Options{})
	admin := httptest.NewServer(e.sim.AdminHandler())
	t.Cleanup(admin.Close)
	lbID := adminID(t, admin, "/loadbalancers", `{"Name":"tagged"}`, "LoadBalancerId")
	if status, out := adminDo(t, admin, http.MethodPut, "/loadbalancers/"+lbID+"/tags", `{"team":"a","env":"prod"}`); status != http.StatusOK {
		t.Fatalf("PUT tags: %d %s", status, out)
	}
	if status, _ := adminDo(t, admin, http.MethodPut, "/loadbalancers/lb-00000000/tags", `{}`); status != http.StatusBadRequest {
		t.Fatalf("tags of a missing load balancer accepted: %d", status)
	}
	create := clbapi.NewCreateLoadBalancerRequest()
	create.LoadBalancerType = new("INTERNAL")
	create.Tags = []*clbapi.TagInfo{{TagKey: new("team"), TagValue: new("b")}}
	created, err := e.client.CreateLoadBalancer(create)
	must(t, err)
	req := clbapi.NewDescribeLoadBalancersRequest()
	req.LoadBalancerIds = []*string{&lbID, created.Response.LoadBalancerIds[0]}
	resp, err := e.client.DescribeLoadBalancers(req)
	must(t, err)
	got := map[string]string{}
	for _, lb := range resp.Response.LoadBalancerSet {
		for _, tag := range lb.Tags {
			got[*lb.LoadBalancerId+"/"+*tag.TagKey] = *tag.TagValue
		}
	}
	want := map[string]string{lbID + "/team": "a", lbID + "/env": "prod", *created.Response.LoadBalancerIds[0] + "/team": "b"}
	if len(got) != len(want) {
		t.Fatalf("tags = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("tags = %v, want %v", got, want)
		}
	}
}
