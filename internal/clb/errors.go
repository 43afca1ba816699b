package clb

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	tcerr "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/errors"
)

// ResourceKind names the kind of cloud object a NotFoundError is about.
type ResourceKind string

// Kinds of cloud objects that can be reported missing.
const (
	KindLoadBalancer ResourceKind = "LoadBalancer"
	KindListener     ResourceKind = "Listener"
	KindLocation     ResourceKind = "Location"
	// KindResource is used when the cloud does not say which object is missing.
	KindResource ResourceKind = "Resource"
)

// NotFoundError reports that a load balancer, listener or rule does not exist.
// It is permanent: retrying the same request cannot succeed.
type NotFoundError struct {
	Kind      ResourceKind
	Code      string // cloud error code, e.g. InvalidParameter.LBIdNotFound
	Message   string
	RequestID string
	Err       error
}

func (e *NotFoundError) Error() string {
	return describe(strings.ToLower(string(e.Kind))+" not found", e.Code, e.Message, e.RequestID)
}

func (e *NotFoundError) Unwrap() error { return e.Err }

// ThrottledError reports that the account's QPS limit for an action was hit
// (RequestLimitExceeded). It is retriable after a backoff.
type ThrottledError struct {
	Code      string
	Message   string
	RequestID string
	Err       error
}

func (e *ThrottledError) Error() string {
	return describe("throttled by the CLB API", e.Code, e.Message, e.RequestID)
}

func (e *ThrottledError) Unwrap() error { return e.Err }

// ConflictError reports that the load balancer is busy with another task
// (FailedOperation.ResourceInOperating, an LB in a transient state, or a task
// that outlived our wait). It is retriable after a backoff.
type ConflictError struct {
	Code      string
	Message   string
	RequestID string
	Err       error
}

func (e *ConflictError) Error() string {
	return describe("load balancer busy", e.Code, e.Message, e.RequestID)
}

func (e *ConflictError) Unwrap() error { return e.Err }

// UnavailableError reports a server-side or network failure (InternalError,
// connection errors, non-200 answers). It is retriable after a backoff.
type UnavailableError struct {
	Code      string
	Message   string
	RequestID string
	Err       error
}

func (e *UnavailableError) Error() string {
	return describe("CLB API unavailable", e.Code, e.Message, e.RequestID)
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// InvalidConfigError reports a request the cloud refuses for good: bad
// parameters, quota, missing permissions, unsupported operation. Reason is a
// CamelCase word fit for a condition reason; Message is fit for its message.
type InvalidConfigError struct {
	Reason    string
	Message   string
	Code      string
	RequestID string
	Err       error
}

func (e *InvalidConfigError) Error() string {
	return describe("request refused as "+e.Reason, e.Code, e.Message, e.RequestID)
}

func (e *InvalidConfigError) Unwrap() error { return e.Err }

// TaskFailedError reports that an asynchronous task ended in failure
// (DescribeTaskStatus Status=1). The request was accepted, so it is not
// retried here; the caller should re-read the state and decide.
type TaskFailedError struct {
	TaskID  string
	Message string
}

func (e *TaskFailedError) Error() string {
	return fmt.Sprintf("task %s failed: %s", e.TaskID, e.Message)
}

// IsNotFound reports whether err is, or wraps, a NotFoundError.
func IsNotFound(err error) bool {
	_, ok := errors.AsType[*NotFoundError](err)
	return ok
}

// IsNotFoundKind reports whether err is, or wraps, a NotFoundError about kind.
func IsNotFoundKind(err error, kind ResourceKind) bool {
	nf, ok := errors.AsType[*NotFoundError](err)
	return ok && nf.Kind == kind
}

// IsRetriable reports whether repeating the same request later may succeed:
// throttling, a busy load balancer, or a server or network failure.
func IsRetriable(err error) bool {
	if _, ok := errors.AsType[*ThrottledError](err); ok {
		return true
	}
	if _, ok := errors.AsType[*ConflictError](err); ok {
		return true
	}
	_, ok := errors.AsType[*UnavailableError](err)
	return ok
}

// Code returns the cloud error code carried by err (for example
// "FailedOperation.ResourceInOperating"), or "" if it carries none.
func Code(err error) string {
	var code string
	switch e := firstTyped(err).(type) {
	case *NotFoundError:
		code = e.Code
	case *ThrottledError:
		code = e.Code
	case *ConflictError:
		code = e.Code
	case *UnavailableError:
		code = e.Code
	case *InvalidConfigError:
		code = e.Code
	}
	if code != "" {
		return code
	}
	if sdkErr, ok := errors.AsType[*tcerr.TencentCloudSDKError](err); ok {
		return sdkErr.Code
	}
	return ""
}

// firstTyped returns the outermost error of one of our types in err's chain.
func firstTyped(err error) error {
	for e := err; e != nil; e = errors.Unwrap(e) {
		switch e.(type) {
		case *NotFoundError, *ThrottledError, *ConflictError, *UnavailableError, *InvalidConfigError:
			return e
		}
	}
	return nil
}

type errClass int

const (
	classNotFound errClass = iota + 1
	classThrottled
	classConflict
	classUnavailable
	classInvalid
)

type codeMapping struct {
	class  errClass
	kind   ResourceKind // classNotFound only
	reason string       // classInvalid only
}

func notFound(kind ResourceKind) codeMapping { return codeMapping{class: classNotFound, kind: kind} }
func invalid(reason string) codeMapping      { return codeMapping{class: classInvalid, reason: reason} }

// Reasons carried by InvalidConfigError.
const (
	ReasonInvalidParameter = "InvalidParameter"
	ReasonQuotaExceeded    = "QuotaExceeded"
	ReasonAuthFailure      = "AuthFailure"
	ReasonUnauthorized     = "Unauthorized"
	ReasonUnsupported      = "Unsupported"
	ReasonInvalidRegion    = "InvalidRegion"
	ReasonFailedOperation  = "FailedOperation"
	// ReasonCloudAPIError is used for codes this package does not know.
	ReasonCloudAPIError = "CloudAPIError"
)

// errorTable is the one place where CLB error codes are classified. A code is
// looked up exactly, then by its prefix before the first dot (so
// "AuthFailure.SignatureExpire" falls back to "AuthFailure"). Unknown codes
// are permanent (ReasonCloudAPIError): retrying what we do not understand only
// burns the account's shared QPS.
var errorTable = map[string]codeMapping{
	// Retriable.
	"RequestLimitExceeded":                {class: classThrottled},
	"FailedOperation.ResourceInOperating": {class: classConflict},
	"FailedOperation.InvalidLBStatus":     {class: classConflict},
	"InternalError":                       {class: classUnavailable},
	"ResourceUnavailable":                 {class: classUnavailable},
	"ClientError.NetworkError":            {class: classUnavailable},
	"ClientError.HttpStatusCodeError":     {class: classUnavailable}, // a gateway or proxy answered
	"ClientError.IOError":                 {class: classUnavailable},
	"ClientError.ParseJsonError":          {class: classUnavailable}, // truncated answer
	"ClientError.CircuitBreakerError":     {class: classUnavailable},

	// Not found: permanent.
	"InvalidParameter.LBIdNotFound":       notFound(KindLoadBalancer),
	"InvalidParameter.ListenerIdNotFound": notFound(KindListener),
	"InvalidParameter.LocationNotFound":   notFound(KindLocation),
	"ResourceNotFound":                    notFound(KindResource),

	// Permanent.
	"InvalidParameter":                invalid(ReasonInvalidParameter),
	"InvalidParameterValue":           invalid(ReasonInvalidParameter),
	"MissingParameter":                invalid(ReasonInvalidParameter),
	"InvalidParameter.RegionNotFound": invalid(ReasonInvalidRegion),
	"UnsupportedRegion":               invalid(ReasonInvalidRegion),
	"LimitExceeded":                   invalid(ReasonQuotaExceeded),
	"ResourceInsufficient":            invalid(ReasonQuotaExceeded),
	"AuthFailure":                     invalid(ReasonAuthFailure),
	"ClientError.CredentialError":     invalid(ReasonAuthFailure),
	"UnauthorizedOperation":           invalid(ReasonUnauthorized),
	"UnsupportedOperation":            invalid(ReasonUnsupported),
	"FailedOperation":                 invalid(ReasonFailedOperation),
}

// lbGoneMessages are message fragments by which the cloud reports a missing
// load balancer under a generic InvalidParameter code (seen by tke-extend).
var lbGoneMessages = []string{"LoadBalancer not exist", "LB not exist"}

func lookupCode(code, message string) codeMapping {
	m, ok := errorTable[code]
	if !ok {
		prefix, _, _ := strings.Cut(code, ".")
		m, ok = errorTable[prefix]
	}
	if !ok {
		return invalid(ReasonCloudAPIError)
	}
	if m.class == classInvalid && m.reason == ReasonInvalidParameter {
		for _, s := range lbGoneMessages {
			if strings.Contains(message, s) {
				return notFound(KindLoadBalancer)
			}
		}
	}
	return m
}

// mapError converts an SDK error into one of our types. Errors that carry no
// SDK code are returned unchanged.
func mapError(err error) error {
	sdkErr, ok := errors.AsType[*tcerr.TencentCloudSDKError](err)
	if !ok {
		return err
	}
	code, msg, req := sdkErr.Code, sdkErr.Message, sdkErr.RequestId
	m := lookupCode(code, msg)
	switch m.class {
	case classNotFound:
		return &NotFoundError{Kind: m.kind, Code: code, Message: msg, RequestID: req, Err: err}
	case classThrottled:
		return &ThrottledError{Code: code, Message: msg, RequestID: req, Err: err}
	case classConflict:
		return &ConflictError{Code: code, Message: msg, RequestID: req, Err: err}
	case classUnavailable:
		return &UnavailableError{Code: code, Message: msg, RequestID: req, Err: err}
	default:
		return &InvalidConfigError{Reason: m.reason, Message: msg, Code: code, RequestID: req, Err: err}
	}
}

func describe(what, code, msg, requestID string) string {
	var b strings.Builder
	b.WriteString(what)
	if code != "" {
		b.WriteString(" (" + code + ")")
	}
	if msg != "" {
		b.WriteString(": " + msg)
	}
	if requestID != "" {
		b.WriteString(" [request " + requestID + "]")
	}
	return b.String()
}

// RefusedAddresses returns the addresses a refused registration names as not routable: the CLB
// refuses a whole BatchRegisterTargets when one EniIp is not an address the load balancer's VPC
// can route (outside the VPC without a cross-VPC binding), and names each as "EniIp <ip>". The
// real message is not documented; this is clbsim's shape, and an error naming none gives nil.
func RefusedAddresses(err error) []string {
	ic, ok := errors.AsType[*InvalidConfigError](err)
	if !ok || ic.Reason != ReasonInvalidParameter {
		return nil
	}
	var out []string
	msg := ic.Message
	for {
		i := strings.Index(msg, "EniIp ")
		if i < 0 {
			return out
		}
		msg = msg[i+len("EniIp "):]
		end := strings.IndexFunc(msg, func(r rune) bool {
			isAddr := r == '.' || r == ':' || ('0' <= r && r <= '9') || ('a' <= r && r <= 'f') || ('A' <= r && r <= 'F')
			return !isAddr
		})
		if end < 0 {
			end = len(msg)
		}
		addr, perr := netip.ParseAddr(msg[:end])
		if perr != nil { // the sentence may go on right after the address ("EniIp 10.0.0.5.")
			addr, perr = netip.ParseAddr(strings.TrimRight(msg[:end], ".:"))
		}
		if perr == nil && !slices.Contains(out, addr.String()) {
			out = append(out, addr.String())
		}
		msg = msg[end:]
	}
}

// RetriableCode reports whether the client retries a call answered with code: throttling, a busy
// load balancer, a server or network failure. Other codes are refusals the caller handles.
func RetriableCode(code string) bool {
	switch lookupCode(code, "").class {
	case classThrottled, classConflict, classUnavailable:
		return true
	default:
		return false
	}
}
