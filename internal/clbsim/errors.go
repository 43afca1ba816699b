package clbsim

import "fmt"

// Error codes returned by the emulator, spelled as the real API spells them.
const (
	codeAuthInvalid         = "AuthFailure.InvalidAuthorization"
	codeSecretIDNotFound    = "AuthFailure.SecretIdNotFound"
	codeSignatureFailure    = "AuthFailure.SignatureFailure"
	codeSignatureExpire     = "AuthFailure.SignatureExpire"
	codeInvalidAction       = "InvalidAction"
	codeNoSuchVersion       = "NoSuchVersion"
	codeUnsupportedRegion   = "UnsupportedRegion"
	codeUnsupportedProto    = "UnsupportedProtocol"
	codeUnknownParameter    = "UnknownParameter"
	codeMissingParameter    = "MissingParameter"
	codeInvalidParameter    = "InvalidParameter"
	codeFormatError         = "InvalidParameter.FormatError"
	codeLBNotFound          = "InvalidParameter.LBIdNotFound"
	codeListenerNotFound    = "InvalidParameter.ListenerIdNotFound"
	codeLocationNotFound    = "InvalidParameter.LocationNotFound"
	codePortCheckFailed     = "InvalidParameter.PortCheckFailed"
	codeProtocolCheck       = "InvalidParameter.ProtocolCheckFailed"
	codeInvalidValue        = "InvalidParameterValue"
	codeDuplicate           = "InvalidParameterValue.Duplicate"
	codeLength              = "InvalidParameterValue.Length"
	codeRange               = "InvalidParameterValue.Range"
	codeLimitExceeded       = "LimitExceeded"
	codeRequestLimit        = "RequestLimitExceeded"
	codeResourceInOperating = "FailedOperation.ResourceInOperating"
	codeInternalError       = "InternalError"
)

// resultOK is the result label of a successful call in Calls and metrics.
const resultOK = "OK"

// resultDropped is the result label of a call whose connection was dropped by a fault.
const resultDropped = "Dropped"

// apiError is an error the API reports in Response.Error.
type apiError struct {
	Code    string
	Message string
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func errf(code, format string, args ...any) *apiError {
	return &apiError{Code: code, Message: fmt.Sprintf(format, args...)}
}
