package clbsim

import (
	"math"
	"reflect"
	"slices"
	"strings"

	clbapi "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/clb/v20180317"
)

var checkTypes = []string{protoTCP, protoHTTP, protoHTTPS, "GRPC", "PING", "CUSTOM"}

// validateHealthCheck enforces the documented ranges of HealthCheck (reference §1.3).
func validateHealthCheck(hc *clbapi.HealthCheck) error {
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
	if hc.CheckType != nil && !slices.Contains(checkTypes, *hc.CheckType) {
		return errf(codeInvalidValue, "HealthCheck.CheckType must be one of %v", checkTypes)
	}
	if hc.HttpCheckMethod != nil && *hc.HttpCheckMethod != "HEAD" && *hc.HttpCheckMethod != "GET" {
		return errf(codeInvalidValue, "HealthCheck.HttpCheckMethod must be HEAD or GET")
	}
	if p := hc.HttpCheckPath; p != nil && (!strings.HasPrefix(*p, "/") || len(*p) > 200) {
		return errf(codeFormatError, "HealthCheck.HttpCheckPath must start with / and be at most 200 characters")
	}
	return nil
}

// mergeHealthCheck copies every field set in src onto dst, as Modify* does.
func mergeHealthCheck(dst, src *clbapi.HealthCheck) {
	dv, sv := reflect.ValueOf(dst).Elem(), reflect.ValueOf(src).Elem()
	for i := range sv.NumField() {
		if f := sv.Field(i); f.Kind() == reflect.Pointer && !f.IsNil() {
			dv.Field(i).Set(f)
		}
	}
}

// healthOutput is hc with the defaults filled in, as Describe* shows it.
func (s *Sim) healthOutput(hc clbapi.HealthCheck, l7 bool) *clbapi.HealthCheck {
	p := s.effectiveHealth(hc, l7)
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
	if p.checkType == protoHTTP || p.checkType == protoHTTPS {
		out.HttpCode = new(p.httpCode)
		out.HttpCheckPath = new(p.path)
		out.HttpCheckMethod = new(strings.ToLower(p.method))
	}
	return &out
}
