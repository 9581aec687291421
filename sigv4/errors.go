package sigv4

import (
	"fmt"
	"net/http"
)

// Error codes answered by this package. They are the codes AWS Query
// services (ElastiCache, RDS, STS, SNS...) answer for the same faults, so
// that SDKs and CLIs classify them as they would against AWS.
const (
	CodeMissingAuthenticationToken = "MissingAuthenticationToken"
	CodeIncompleteSignature        = "IncompleteSignature"
	CodeInvalidClientTokenID       = "InvalidClientTokenId"
	CodeSignatureDoesNotMatch      = "SignatureDoesNotMatch"
	CodeRequestEntityTooLarge      = "RequestEntityTooLarge"
	CodeIncompleteBody             = "IncompleteBody"
	CodeServiceUnavailable         = "ServiceUnavailable"
)

// Messages that AWS answers verbatim and that tools sometimes match on.
const (
	msgMissingAuthenticationToken = "Request is missing Authentication Token"
	msgInvalidClientTokenID       = "The security token included in the request is invalid."
	msgSignatureDoesNotMatch      = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)

// Error is an authentication failure in the shape of an AWS Query API error.
// It satisfies awsquery.APIError structurally (ErrorCode, ErrorMessage,
// HTTPStatus, ErrorFault), so the Query error envelope renders it as AWS
// would. Messages never contain secret access keys.
type Error struct {
	Code    string
	Message string
	Status  int
}

func (e *Error) Error() string        { return e.Code + ": " + e.Message }
func (e *Error) ErrorCode() string    { return e.Code }
func (e *Error) ErrorMessage() string { return e.Message }
func (e *Error) HTTPStatus() int      { return e.Status }

// ErrorFault is always "Sender": every authentication failure is the
// client's to fix.
func (e *Error) ErrorFault() string { return "Sender" }

func newError(code string, status int, format string, args ...any) *Error {
	msg := format
	if len(args) > 0 {
		msg = fmt.Sprintf(format, args...)
	}
	return &Error{Code: code, Message: msg, Status: status}
}

func errMissingAuth() *Error {
	return newError(CodeMissingAuthenticationToken, http.StatusForbidden, msgMissingAuthenticationToken)
}

func errIncomplete(format string, args ...any) *Error {
	return newError(CodeIncompleteSignature, http.StatusBadRequest, format, args...)
}

func errInvalidClientToken() *Error {
	return newError(CodeInvalidClientTokenID, http.StatusForbidden, msgInvalidClientTokenID)
}

func errSignatureMismatch() *Error {
	return newError(CodeSignatureDoesNotMatch, http.StatusForbidden, msgSignatureDoesNotMatch)
}

// errSignatureScope is SignatureDoesNotMatch with a specific explanation,
// as AWS answers for a scope that is well formed but wrong for this service
// and for signatures outside their validity window.
func errSignatureScope(format string, args ...any) *Error {
	return newError(CodeSignatureDoesNotMatch, http.StatusForbidden, format, args...)
}

// errUnservedRegion is AWS's answer to a well-formed credential scope whose
// region the endpoint does not serve (STS, IAM, SQS, SES and the other
// Query services answer it so, trailing space included): the signature was
// computed for a region that has no such endpoint here.
func errUnservedRegion(region string) *Error {
	return errSignatureScope("Credential should be scoped to a valid region, not '%s'. ", echo(region))
}
