package clbsim_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/clbind/clb-binding-controller/internal/clbsim"
)

// FuzzDecodeRequest feeds arbitrary bodies to every action: the Sim must never
// panic and must always answer HTTP 200 with a Response envelope.
func FuzzDecodeRequest(f *testing.F) {
	f.Add("RegisterTargets", []byte(`{"LoadBalancerId":"lb-aaaaaaaa","ListenerId":"lbl-aaaaaaaa","Targets":[{"EniIp":"10.0.0.1","Port":80}]}`))
	f.Add("BatchRegisterTargets", []byte(`{"LoadBalancerId":"lb-aaaaaaaa","Targets":[{"ListenerId":"lbl-aaaaaaaa","EniIp":"10.0.0.1","Port":80,"LocationId":null}]}`))
	f.Add("CreateListener", []byte(`{"LoadBalancerId":"lb-aaaaaaaa","Ports":[1,null],"Protocol":"TCP"}`))
	f.Add("DescribeTargetHealth", []byte(`{"LoadBalancerIds":[null]}`))
	f.Add("BatchModifyTargetTag", []byte(`{"LoadBalancerId":"lb-aaaaaaaa","ModifyList":[null,{"ListenerId":"lbl-aaaaaaaa","Targets":[null,{"EniIp":"10.0.0.1","Port":80}],"Tag":"x"}]}`))
	f.Add("DescribeTargets", []byte(`{"LoadBalancerId":"lb-aaaaaaaa","ListenerIds":[null,"lbl-aaaaaaaa"]}`))
	f.Add("DescribeQuota", []byte(`{}`))
	sim := clbsim.New(clbsim.Options{DefaultQPS: -1})
	defer sim.Close()
	lbID := sim.AddLoadBalancer("fuzz")
	sim.AddRule(lbID, sim.AddListener(lbID, "HTTP", 80), "a", "/")
	sim.AddListener(lbID, "TCP", 81)
	f.Fuzz(func(t *testing.T, action string, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		req.Header.Set("X-TC-Action", action)
		req.Header.Set("X-TC-Version", "2018-03-17")
		req.Header.Set("X-TC-Region", "ap-guangzhou")
		rec := httptest.NewRecorder()
		sim.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("HTTP %d", rec.Code)
		}
		var env struct{ Response map[string]any }
		if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil || env.Response == nil {
			t.Fatalf("no Response envelope: %q", rec.Body.String())
		}
	})
}
