package clbsim

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

const (
	apiVersion     = "2018-03-17"
	maxRequestBody = 10 << 20
)

// call is one decoded API request on its way through the Sim.
type call struct {
	cancelled <-chan struct{} // closed when the client goes away
	action    string
	requestID string
	body      []byte
	fault     *Fault // the fault that fired for this call, if any
}

// actionFunc handles one action and returns the response fields (without the envelope).
type actionFunc func(s *Sim, c *call) (any, error)

// actions maps X-TC-Action to its handler.
var actions = map[string]actionFunc{
	"CreateLoadBalancer":      (*Sim).createLoadBalancer,
	"DeleteLoadBalancer":      (*Sim).deleteLoadBalancer,
	"DescribeLoadBalancers":   (*Sim).describeLoadBalancers,
	"DescribeListeners":       (*Sim).describeListeners,
	"CreateListener":          (*Sim).createListener,
	"DeleteListener":          (*Sim).deleteListener,
	"ModifyListener":          (*Sim).modifyListener,
	"CreateRule":              (*Sim).createRule,
	"DeleteRule":              (*Sim).deleteRule,
	"ModifyRule":              (*Sim).modifyRule,
	"RegisterTargets":         (*Sim).registerTargets,
	"DeregisterTargets":       (*Sim).deregisterTargets,
	"BatchRegisterTargets":    (*Sim).batchRegisterTargets,
	"BatchDeregisterTargets":  (*Sim).batchDeregisterTargets,
	"ModifyTargetWeight":      (*Sim).modifyTargetWeight,
	"BatchModifyTargetWeight": (*Sim).batchModifyTargetWeight,
	"BatchModifyTargetTag":    (*Sim).batchModifyTargetTag,
	"DescribeTargets":         (*Sim).describeTargets,
	"DescribeTargetHealth":    (*Sim).describeTargetHealth,
	"DescribeTaskStatus":      (*Sim).describeTaskStatus,
	"DescribeQuota":           (*Sim).describeQuota,
}

// ServeHTTP is the Tencent Cloud API v3 endpoint (POST /). It always answers
// HTTP 200 and reports errors in Response.Error, as the real API does.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := &call{cancelled: r.Context().Done(), action: r.Header.Get("X-TC-Action"), requestID: newRequestID()}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody))
	if err != nil {
		s.answer(w, c, nil, errf(codeFormatError, "read body: %v", err))
		return
	}
	c.body = body
	if err := s.admit(r, c); err != nil {
		s.answer(w, c, nil, err)
		return
	}
	if c.fault != nil {
		s.wait(c.cancelled, c.fault.Delay)
		if c.fault.Drop {
			s.obs.record(actionLabel(c.action), resultDropped)
			dropConnection(w)
			return
		}
		if c.fault.Code != "" {
			s.answer(w, c, nil, errf(c.fault.Code, "injected fault"))
			return
		}
	}
	s.wait(c.cancelled, s.ctl.latency().PerCall)
	resp, err := actions[c.action](s, c)
	s.answer(w, c, resp, err)
}

// admit runs the checks every call passes before its handler: protocol,
// signature, version, region, action, rate limit; then it picks a fault.
func (s *Sim) admit(r *http.Request, c *call) error {
	if r.Method != http.MethodPost {
		return errf(codeUnsupportedProto, "only POST is supported, got %s", r.Method)
	}
	if err := s.verifySignature(r, c.body); err != nil {
		return err
	}
	if v := r.Header.Get("X-TC-Version"); v != apiVersion {
		return errf(codeNoSuchVersion, "version %q does not exist for clb", v)
	}
	if err := s.checkRegion(r.Header.Get("X-TC-Region")); err != nil {
		return err
	}
	if _, ok := actions[c.action]; !ok {
		return errf(codeInvalidAction, "action %q does not exist", c.action)
	}
	if !s.ctl.allow(c.action, s.now()) {
		return errf(codeRequestLimit, "%s exceeded its request rate limit", c.action)
	}
	c.fault = s.ctl.fire(c.action)
	return nil
}

func (s *Sim) checkRegion(region string) error {
	if region == "" {
		return errf(codeMissingParameter, "the X-TC-Region header is required")
	}
	if s.opts.Region != "" && region != s.opts.Region {
		return errf(codeUnsupportedRegion, "region %q is not served here (only %s)", region, s.opts.Region)
	}
	return nil
}

// answer writes the Response envelope and records the call's result.
func (s *Sim) answer(w http.ResponseWriter, c *call, resp any, err error) {
	var payload []byte
	result := resultOK
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			ae = errf(codeInternalError, "%v", err)
		}
		result = ae.Code
		payload = errorEnvelope(ae, c.requestID)
	} else {
		var merr error
		payload, merr = json.Marshal(map[string]any{"Response": resp})
		if merr != nil {
			result = codeInternalError
			payload = errorEnvelope(errf(codeInternalError, "encode response: %v", merr), c.requestID)
		}
	}
	s.obs.record(actionLabel(c.action), result)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(payload)
}

func errorEnvelope(ae *apiError, requestID string) []byte {
	b, _ := json.Marshal(map[string]any{"Response": map[string]any{
		"Error":     map[string]string{"Code": ae.Code, "Message": ae.Message},
		"RequestId": requestID,
	}})
	return b
}

// unknownAction is the Calls and metrics label of calls to actions clbsim
// does not serve; it keeps label values bounded and valid UTF-8.
const unknownAction = "Unknown"

func actionLabel(action string) string {
	if _, ok := actions[action]; ok {
		return action
	}
	return unknownAction
}

// decode reads the request body into the SDK's RequestParams struct. Like the
// real API it refuses unknown fields and values of the wrong type.
func decode[T any](c *call) (*T, error) {
	dec := json.NewDecoder(bytes.NewReader(c.body))
	dec.DisallowUnknownFields()
	req := new(T)
	if err := dec.Decode(req); err != nil {
		if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return nil, errf(codeUnknownParameter, "the parameter %s is not recognized", field)
		}
		return nil, errf(codeFormatError, "malformed request body: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errf(codeFormatError, "malformed request body: trailing data")
	}
	return req, nil
}

// dropConnection closes the client connection without an answer.
func dropConnection(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	_ = conn.Close()
}

// newRequestID returns a random UUID, the shape of real RequestIds.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// unixTime formats t the way the API formats times.
func unixTime(t time.Time) string { return t.Format(time.DateTime) }
