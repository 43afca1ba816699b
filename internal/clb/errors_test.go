package clb

import (
	"errors"
	"fmt"
	"testing"

	. "github.com/onsi/gomega"
	tcerr "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/errors"
)

func TestMapError(t *testing.T) {
	type want struct {
		typ       string // our type name
		kind      ResourceKind
		reason    string
		retriable bool
	}
	tests := []struct {
		code, message string
		want          want
	}{
		{"RequestLimitExceeded", "", want{typ: "Throttled", retriable: true}},
		{"FailedOperation.ResourceInOperating", "Your task is working", want{typ: "Conflict", retriable: true}},
		{"FailedOperation.InvalidLBStatus", "", want{typ: "Conflict", retriable: true}},
		{"InternalError", "", want{typ: "Unavailable", retriable: true}},
		{"InternalError.Something", "", want{typ: "Unavailable", retriable: true}},
		{"ClientError.NetworkError", "Fail to get response", want{typ: "Unavailable", retriable: true}},
		{"ClientError.HttpStatusCodeError", "502", want{typ: "Unavailable", retriable: true}},
		{"InvalidParameter.LBIdNotFound", "", want{typ: "NotFound", kind: KindLoadBalancer}},
		{"InvalidParameter.ListenerIdNotFound", "", want{typ: "NotFound", kind: KindListener}},
		{"InvalidParameter.LocationNotFound", "", want{typ: "NotFound", kind: KindLocation}},
		{"ResourceNotFound", "", want{typ: "NotFound", kind: KindResource}},
		{"InvalidParameter", "LoadBalancer not exist: lb-1", want{typ: "NotFound", kind: KindLoadBalancer}},
		{"InvalidParameter", "some ListenerId is bad", want{typ: "InvalidConfig", reason: ReasonInvalidParameter}},
		{"InvalidParameter.FormatError", "", want{typ: "InvalidConfig", reason: ReasonInvalidParameter}},
		{"InvalidParameterValue.Duplicate", "", want{typ: "InvalidConfig", reason: ReasonInvalidParameter}},
		{"MissingParameter", "", want{typ: "InvalidConfig", reason: ReasonInvalidParameter}},
		{"InvalidParameter.RegionNotFound", "", want{typ: "InvalidConfig", reason: ReasonInvalidRegion}},
		{"LimitExceeded", "", want{typ: "InvalidConfig", reason: ReasonQuotaExceeded}},
		{"AuthFailure.SignatureFailure", "", want{typ: "InvalidConfig", reason: ReasonAuthFailure}},
		{"AuthFailure.SignatureExpire", "", want{typ: "InvalidConfig", reason: ReasonAuthFailure}},
		{"UnauthorizedOperation", "", want{typ: "InvalidConfig", reason: ReasonUnauthorized}},
		{"UnsupportedOperation.Foo", "", want{typ: "InvalidConfig", reason: ReasonUnsupported}},
		{"FailedOperation", "", want{typ: "InvalidConfig", reason: ReasonFailedOperation}},
		{"SomethingNew.Unheard", "", want{typ: "InvalidConfig", reason: ReasonCloudAPIError}},
	}
	for _, tt := range tests {
		t.Run(tt.code+"/"+tt.message, func(t *testing.T) {
			g := NewWithT(t)
			sdkErr := tcerr.NewTencentCloudSDKError(tt.code, tt.message, "req-1")
			// Callers see our errors wrapped with context; the helpers must see through.
			err := fmt.Errorf("doing something on lb-1: %w", mapError(sdkErr))

			var got want
			switch e := firstTyped(err).(type) {
			case *ThrottledError:
				got.typ = "Throttled"
			case *ConflictError:
				got.typ = "Conflict"
			case *UnavailableError:
				got.typ = "Unavailable"
			case *NotFoundError:
				got.typ, got.kind = "NotFound", e.Kind
			case *InvalidConfigError:
				got.typ, got.reason = "InvalidConfig", e.Reason
			}
			got.retriable = IsRetriable(err)
			g.Expect(got).To(Equal(tt.want))
			g.Expect(IsNotFound(err)).To(Equal(tt.want.typ == "NotFound"))
			g.Expect(Code(err)).To(Equal(tt.code))
			g.Expect(errors.Is(err, sdkErr)).To(BeTrue(), "the SDK error stays reachable")
			g.Expect(err.Error()).To(ContainSubstring("req-1"))
		})
	}
}

func TestErrorHelpersOnOtherErrors(t *testing.T) {
	g := NewWithT(t)
	plain := errors.New("boom")
	g.Expect(mapError(plain)).To(BeIdenticalTo(plain))
	g.Expect(mapError(nil)).To(Succeed())
	g.Expect(IsRetriable(plain)).To(BeFalse())
	g.Expect(IsNotFound(plain)).To(BeFalse())
	g.Expect(Code(plain)).To(BeEmpty())
	g.Expect(Code(nil)).To(BeEmpty())

	// errors.Join of chunk errors: any retriable member makes the whole retriable.
	joined := errors.Join(&InvalidConfigError{Reason: ReasonInvalidParameter}, &ThrottledError{Code: "RequestLimitExceeded"})
	g.Expect(IsRetriable(joined)).To(BeTrue())
	g.Expect(IsNotFoundKind(&NotFoundError{Kind: KindListener}, KindListener)).To(BeTrue())
	g.Expect(IsNotFoundKind(&NotFoundError{Kind: KindListener}, KindLoadBalancer)).To(BeFalse())
	g.Expect((&TaskFailedError{TaskID: "t-1", Message: "x"}).Error()).To(Equal("task t-1 failed: x"))
}
