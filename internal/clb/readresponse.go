package clb

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"

	clbapi "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/clb/v20180317"
	tcerr "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/errors"
	tchttp "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/http"
)

// The reads of every backend of a load balancer (DescribeTargets for the drift check,
// DescribeTargetHealth for the health poll) are nearly all a steady manager does, and their
// bodies grow with the backends. The SDK's typed responses decode such a body five times over
// (the error twice in two shapes, then the value) into a pointer per field; at 100,000 backends
// that was most of the manager's steady CPU. slimResponse is still sent by the SDK's client (its
// signing, transport and error check before ours), but decodes the body once, into only the
// fields we read.

// responseHead is the part of every API response that says whether the call failed.
type responseHead struct {
	Error *struct {
		Code    string `json:"Code"`
		Message string `json:"Message"`
	} `json:"Error"`
	RequestID string `json:"RequestId"`
}

func (h *responseHead) head() *responseHead { return h }

// slimBody is the JSON shape of a response: {"Response": {...}}. P embeds responseHead.
type slimBody[P any] struct {
	Response P `json:"Response"`
}

// slimResponse implements the SDK's tchttp.Response: the SDK hands it the body to check for an
// API error, where it is decoded, then asks it to unmarshal itself, which is then a no-op.
type slimResponse[P any] struct {
	slimBody[P]
	// known, when set, is the digest of the last answer to the same request (readmemo.go): an
	// answer with that digest is not decoded, unchanged is set instead.
	known     *[sha256.Size]byte
	digest    [sha256.Size]byte
	unchanged bool
	// answer receives the body from the transport (transport.go) when the request carries it.
	answer answer
}

// send sends req through api with the transport handing the answer's body to r.
func (r *slimResponse[P]) send(ctx context.Context, api *clbapi.Client, req tchttp.Request) error {
	req.SetContext(withAnswer(ctx, &r.answer))
	return api.Send(req, r)
}

// ParseErrorFromHTTPResponse decodes body, replacing what r held, and returns the API error it
// carries, as the SDK's own responses do (the SDK calls it before UnmarshalJSON).
func (r *slimResponse[P]) ParseErrorFromHTTPResponse(body []byte) error {
	if handed, ok := r.answer.take(); ok {
		defer release(handed) // decoding copies what it keeps
		body = handed.Bytes()
	}
	r.digest = answerDigest(body)
	r.unchanged = r.known != nil && *r.known == r.digest
	if r.unchanged {
		return nil // the body of a successful answer, read before
	}
	var fresh slimBody[P]
	if err := json.Unmarshal(body, &fresh); err != nil {
		return tcerr.NewTencentCloudSDKError("ClientError.ParseJsonError",
			fmt.Sprintf("Fail to parse json content: %.200s, because: %s", body, err), "")
	}
	r.slimBody = fresh
	if h := any(&r.Response).(interface{ head() *responseHead }).head(); h.Error != nil && h.Error.Code != "" {
		return tcerr.NewTencentCloudSDKError(h.Error.Code, h.Error.Message, h.RequestID)
	}
	return nil
}

// UnmarshalJSON does nothing: ParseErrorFromHTTPResponse has decoded the body.
func (r *slimResponse[P]) UnmarshalJSON([]byte) error { return nil }

// slimBackend is the part of a DescribeTargets Backend that we read.
type slimBackend struct {
	Type               string   `json:"Type"`
	InstanceID         string   `json:"InstanceId"`
	Port               int64    `json:"Port"`
	Weight             int64    `json:"Weight"`
	PrivateIPAddresses []string `json:"PrivateIpAddresses"`
	Tag                string   `json:"Tag"`
}

// describeTargetsParams is the part of DescribeTargets' answer that we read.
type describeTargetsParams struct {
	responseHead
	Listeners []struct {
		ListenerID string        `json:"ListenerId"`
		Protocol   string        `json:"Protocol"`
		Port       int64         `json:"Port"`
		Targets    []slimBackend `json:"Targets"`
		Rules      []struct {
			LocationID string        `json:"LocationId"`
			Domain     string        `json:"Domain"`
			URL        string        `json:"Url"`
			Targets    []slimBackend `json:"Targets"`
		} `json:"Rules"`
	} `json:"Listeners"`
}

// slimTargetHealth is the part of a DescribeTargetHealth TargetHealth that we read.
type slimTargetHealth struct {
	IP                 string `json:"IP"`
	Port               int64  `json:"Port"`
	HealthStatus       bool   `json:"HealthStatus"`
	TargetID           string `json:"TargetId"`
	HealthStatusDetail string `json:"HealthStatusDetail"`
	// HealthStatusDetial is the old spelling, still the only one some regions send.
	HealthStatusDetial string `json:"HealthStatusDetial"`
}

// describeTargetHealthParams is the part of DescribeTargetHealth's answer that we read.
type describeTargetHealthParams struct {
	responseHead
	LoadBalancers []struct {
		LoadBalancerID string `json:"LoadBalancerId"`
		Listeners      []struct {
			ListenerID string `json:"ListenerId"`
			Protocol   string `json:"Protocol"`
			Rules      []struct {
				LocationID string             `json:"LocationId"`
				Targets    []slimTargetHealth `json:"Targets"`
			} `json:"Rules"`
		} `json:"Listeners"`
	} `json:"LoadBalancers"`
}

// Every slimResponse parameter carries the error head (ParseErrorFromHTTPResponse asserts it).
var (
	_ interface{ head() *responseHead } = (*describeTargetsParams)(nil)
	_ interface{ head() *responseHead } = (*describeTargetHealthParams)(nil)
)
