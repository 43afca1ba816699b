package clbsim

import (
	"math"
	"reflect"
	"slices"
	"strings"

	clbapi "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/clb/v20180317"
)

// Health-check types, as HealthCheck.CheckType names them.
const (
	checkTCP    = "TCP"
	checkHTTP   = "HTTP"
	checkHTTPS  = "HTTPS"
	checkGRPC   = "GRPC"
	checkPING   = "PING"
	checkCUSTOM = "CUSTOM"
)

// L4 listener protocols the health-check rules tell apart (TCP is protoTCP).
const (
	listenerUDP    = "UDP"
	listenerTCPSSL = "TCP_SSL"
	listenerQUIC   = "QUIC"
)

// defaultHTTPCode is HttpCode when a request leaves it out: every status class is healthy.
const defaultHTTPCode = 31

// maxContextLength bounds SendContext and RecvContext.
const maxContextLength = 500

var checkTypes = []string{checkTCP, checkHTTP, checkHTTPS, checkGRPC, checkPING, checkCUSTOM}

// checkTypesOf lists the check types a listener protocol takes (its rules' for HTTP and HTTPS),
// as the SDK documents HealthCheck.CheckType: "UDP监听器支持PING/CUSTOM，TCP监听器支持
// TCP/HTTP/CUSTOM，TCP_SSL/QUIC监听器支持TCP/HTTP，HTTP规则支持HTTP/GRPC，HTTPS规则支持
// HTTP/HTTPS/GRPC".
var checkTypesOf = map[string][]string{
	listenerUDP:    {checkPING, checkCUSTOM},
	protoTCP:       {checkTCP, checkHTTP, checkCUSTOM},
	listenerTCPSSL: {checkTCP, checkHTTP},
	listenerQUIC:   {checkTCP, checkHTTP},
	protoHTTP:      {checkHTTP, checkGRPC},
	protoHTTPS:     {checkHTTP, checkHTTPS, checkGRPC},
}

// defaultCheckType is the check type of a listener (or, for HTTP and HTTPS, of a rule) whose
// requests never named one: PING for UDP, TCP for the other L4 protocols, HTTP for rules (an
// HTTPS rule follows its forwarding protocol, which is HTTP unless set otherwise).
func defaultCheckType(protocol string) string {
	switch {
	case protocol == listenerUDP:
		return checkPING
	case isL7(protocol):
		return checkHTTP
	}
	return checkTCP
}

// validateHealthCheck checks a CreateListener, ModifyListener, CreateRule or ModifyRule health
// check against the documented rules of HealthCheck (reference §1.3 and the SDK's models.go). req
// is what the request sends; stored is the listener's or rule's check before it (nil on create).
// The rules that tie fields together apply to the check as it will be: stored with req over it.
func validateHealthCheck(protocol string, stored, req *clbapi.HealthCheck) error {
	if err := validateHealthRanges(req); err != nil {
		return err
	}
	hc := clbapi.HealthCheck{}
	if stored != nil {
		hc = *stored
	}
	mergeHealthCheck(&hc, req)
	checkType := deref(hc.CheckType)
	if checkType == "" {
		checkType = defaultCheckType(protocol)
	}
	if !slices.Contains(checkTypes, checkType) {
		return errf(codeInvalidValue, "HealthCheck.CheckType must be one of %v", checkTypes)
	}
	if allowed := checkTypesOf[protocol]; !slices.Contains(allowed, checkType) {
		what := protocol + " listeners"
		if isL7(protocol) {
			what = "the rules of " + protocol + " listeners"
		}
		return errf(codeInvalidValue, "HealthCheck.CheckType %s is not supported by %s; they take %s", checkType, what, strings.Join(allowed, ", "))
	}
	if v := hc.HttpVersion; v != nil && *v != "HTTP/1.0" && *v != "HTTP/1.1" {
		return errf(codeInvalidValue, "HealthCheck.HttpVersion must be HTTP/1.0 or HTTP/1.1, got %q", *v)
	}
	if checkType == checkHTTP && !isL7(protocol) {
		// The SDK: HttpCheckDomain is required for the HTTP check of a TCP listener, and so is
		// HttpVersion for an HTTP check; TCP_SSL and QUIC are held to the same rule.
		if deref(hc.HttpCheckDomain) == "" {
			return errf(codeMissingParameter, "HealthCheck.HttpCheckDomain is required for an HTTP check of a %s listener", protocol)
		}
		if deref(hc.HttpVersion) == "" {
			return errf(codeMissingParameter, "HealthCheck.HttpVersion (HTTP/1.0 or HTTP/1.1) is required for an HTTP check of a %s listener", protocol)
		}
	}
	if checkType == checkCUSTOM {
		return validateCustomCheck(&hc)
	}
	return nil
}

// validateHealthRanges enforces the documented ranges and formats of the fields req sends.
func validateHealthRanges(hc *clbapi.HealthCheck) error {
	ranges := []struct {
		name     string
		v        *int64
		min, max int64
	}{
		{"HealthSwitch", hc.HealthSwitch, 0, 1},
		{"TimeOut", hc.TimeOut, 2, 60},
		{"IntervalTime", hc.IntervalTime, 2, 300},
		{"HealthNum", hc.HealthNum, 2, 10},
		{"UnHealthNum", hc.UnHealthNum, 2, 10},
		{"HttpCode", hc.HttpCode, 1, 31},
	}
	for _, r := range ranges {
		if r.v != nil && (*r.v < r.min || *r.v > r.max) {
			return errf(codeRange, "HealthCheck.%s must be within [%d, %d]", r.name, r.min, r.max)
		}
	}
	if hc.TimeOut != nil && hc.IntervalTime != nil && *hc.TimeOut >= *hc.IntervalTime {
		return errf(codeInvalidValue, "HealthCheck.TimeOut must be less than HealthCheck.IntervalTime")
	}
	if hc.HttpCheckMethod != nil && *hc.HttpCheckMethod != "HEAD" && *hc.HttpCheckMethod != "GET" {
		return errf(codeInvalidValue, "HealthCheck.HttpCheckMethod must be HEAD or GET")
	}
	if p := hc.HttpCheckPath; p != nil && (!strings.HasPrefix(*p, "/") || len(*p) > 200) {
		return errf(codeFormatError, "HealthCheck.HttpCheckPath must start with / and be at most 200 characters")
	}
	return nil
}

// validateCustomCheck enforces the SDK's rules of a CUSTOM check: ContextType HEX or TEXT,
// SendContext and RecvContext of visible ASCII, at most 500 characters, and with HEX only the
// characters 0-9A-F in an even number.
func validateCustomCheck(hc *clbapi.HealthCheck) error {
	contextType := deref(hc.ContextType)
	switch contextType {
	case "":
		return errf(codeMissingParameter, "HealthCheck.ContextType (HEX or TEXT) is required for a CUSTOM check")
	case "HEX", "TEXT":
	default:
		return errf(codeInvalidValue, "HealthCheck.ContextType must be HEX or TEXT, got %q", contextType)
	}
	for _, f := range []struct {
		name string
		v    string
	}{{"SendContext", deref(hc.SendContext)}, {"RecvContext", deref(hc.RecvContext)}} {
		switch {
		case f.v == "":
			return errf(codeMissingParameter, "HealthCheck.%s is required for a CUSTOM check", f.name)
		case len(f.v) > maxContextLength:
			return errf(codeLength, "HealthCheck.%s is at most %d characters", f.name, maxContextLength)
		case strings.ContainsFunc(f.v, func(r rune) bool { return r < ' ' || r > '~' }):
			return errf(codeInvalidValue, "HealthCheck.%s may hold only visible ASCII characters", f.name)
		case contextType == "HEX" && (len(f.v)%2 != 0 || strings.Trim(f.v, "0123456789ABCDEF") != ""):
			return errf(codeInvalidValue, "HealthCheck.%s must be an even number of the characters 0-9A-F with ContextType HEX", f.name)
		}
	}
	return nil
}

// mergeHealthCheck copies every field set in src onto dst, as Modify* does.
func mergeHealthCheck(dst, src *clbapi.HealthCheck) {
	if src == nil {
		return
	}
	dv, sv := reflect.ValueOf(dst).Elem(), reflect.ValueOf(src).Elem()
	for i := range sv.NumField() {
		if f := sv.Field(i); f.Kind() == reflect.Pointer && !f.IsNil() {
			dv.Field(i).Set(f)
		}
	}
}

// healthOutput is hc with the defaults filled in, as Describe* shows it. protocol is the
// listener's; for HTTP and HTTPS listeners hc is a rule's check.
func (s *Sim) healthOutput(hc clbapi.HealthCheck, protocol string) *clbapi.HealthCheck {
	p := s.effectiveHealth(hc, protocol)
	out := hc
	switchOn := int64(0)
	if p.on {
		switchOn = 1
	}
	out.HealthSwitch = new(switchOn)
	out.TimeOut = new(int64(p.timeout.Seconds()))
	out.IntervalTime = new(int64(math.Ceil(p.interval.Seconds())))
	out.HealthNum = new(p.healthNum)
	out.UnHealthNum = new(p.unhealthNum)
	out.CheckType = new(p.checkType)
	if p.checkType == checkHTTP || p.checkType == checkHTTPS {
		out.HttpCode = new(p.httpCode)
		out.HttpCheckPath = new(p.path)
		out.HttpCheckMethod = new(strings.ToLower(p.method))
	}
	return &out
}
