package awsquery

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"
)

// APIError is an error that reaches the client as an AWS error document:
// <Error><Type>{ErrorFault}</Type><Code>{ErrorCode}</Code>
// <Message>{ErrorMessage}</Message></Error>, with status HTTPStatus.
// Generated fault types (ecapi.UserNotFoundFault...) and *Error implement it.
type APIError interface {
	error
	// ErrorCode is the machine-readable code, e.g. "UserNotFound".
	ErrorCode() string
	// ErrorMessage is the human-readable message.
	ErrorMessage() string
	// HTTPStatus is the status code of the response, e.g. 404.
	HTTPStatus() int
	// ErrorFault is "Sender" for a client error, "Receiver" for a server one.
	ErrorFault() string
}

// Fault values of APIError.ErrorFault.
const (
	FaultSender   = "Sender"
	FaultReceiver = "Receiver"
)

// Error is an APIError that is not modelled by a service: the common Query
// errors (MissingParameter, InvalidAction...) and anything a middleware needs
// to send (SignatureDoesNotMatch...). The zero Status means 400 and the zero
// Fault means "Sender" below 500 and "Receiver" from 500 on.
type Error struct {
	Code    string
	Message string
	Status  int
	Fault   string
}

var _ APIError = (*Error)(nil)

// Error implements error as "Code: Message".
func (e *Error) Error() string { return e.Code + ": " + e.Message }

// ErrorCode implements APIError.
func (e *Error) ErrorCode() string { return e.Code }

// ErrorMessage implements APIError.
func (e *Error) ErrorMessage() string { return e.Message }

// HTTPStatus implements APIError; 0 means 400.
func (e *Error) HTTPStatus() int {
	if e.Status == 0 {
		return http.StatusBadRequest
	}
	return e.Status
}

// ErrorFault implements APIError.
func (e *Error) ErrorFault() string {
	if e.Fault != "" {
		return e.Fault
	}
	if e.HTTPStatus() >= 500 {
		return FaultReceiver
	}
	return FaultSender
}

// The common errors of the Query protocol. Codes and statuses follow the
// "Common Errors" page of the AWS API references (MalformedQueryString is
// documented there with status 404, and so it is here).

// MissingParameter reports that the required parameter name (a full dotted
// name such as "Tags.Tag.1.Key") is absent.
func MissingParameter(name string) *Error {
	return &Error{Code: "MissingParameter", Message: "The request must contain the parameter " + name + ".", Status: http.StatusBadRequest}
}

// InvalidParameterValue reports an invalid or out-of-range parameter value.
func InvalidParameterValue(msg string) *Error {
	return &Error{Code: "InvalidParameterValue", Message: msg, Status: http.StatusBadRequest}
}

// InvalidParameterCombination reports parameters that must not be used together.
func InvalidParameterCombination(msg string) *Error {
	return &Error{Code: "InvalidParameterCombination", Message: msg, Status: http.StatusBadRequest}
}

// MissingAction reports a request without an Action parameter.
func MissingAction() *Error {
	return &Error{Code: "MissingAction", Message: "The request must contain the parameter Action.", Status: http.StatusBadRequest}
}

// InvalidAction reports an Action the service does not have.
func InvalidAction(action string) *Error {
	return &Error{Code: "InvalidAction", Message: "The action " + truncate(action) + " is not valid for this web service.", Status: http.StatusBadRequest}
}

// NoSuchVersion reports a Version parameter the service does not speak; it is
// the code AWS Query services answer a wrong Version with.
func NoSuchVersion(version, service string) *Error {
	return &Error{Code: "NoSuchVersion", Message: "The requested version (" + truncate(version) + ") of service " + service + " does not exist.", Status: http.StatusBadRequest}
}

// InternalFailure is the opaque error every unexpected failure becomes. Its
// message never carries detail; the detail goes to the log.
func InternalFailure() *Error {
	return &Error{Code: "InternalFailure", Message: "The request processing has failed because of an unknown error, exception or failure.", Status: http.StatusInternalServerError, Fault: FaultReceiver}
}

// NotImplemented reports an operation keyward does not implement (yet).
func NotImplemented(op string) *Error {
	return &Error{Code: "NotImplemented", Message: "keyward does not implement " + op + " yet.", Status: http.StatusNotImplemented, Fault: FaultReceiver}
}

// RequestEntityTooLarge reports a request body over limit bytes.
func RequestEntityTooLarge(limit int64) *Error {
	return &Error{Code: "RequestEntityTooLarge", Message: "The request body must not be larger than " + strconv.FormatInt(limit, 10) + " bytes.", Status: http.StatusRequestEntityTooLarge}
}

// MalformedQueryString reports a query string or form body that cannot be
// parsed; detail says why.
func MalformedQueryString(detail string) *Error {
	return &Error{Code: "MalformedQueryString", Message: "The query string contains a syntax error: " + detail, Status: http.StatusNotFound}
}

// MethodNotAllowed reports an HTTP method other than GET and POST.
func MethodNotAllowed(method string) *Error {
	return &Error{Code: "MethodNotAllowed", Message: "The HTTP method " + quoteValue(method) + " is not allowed; use GET or POST.", Status: http.StatusMethodNotAllowed}
}

// UnsupportedMediaType reports a POST body that is not form-encoded.
func UnsupportedMediaType(contentType string) *Error {
	return &Error{Code: "UnsupportedMediaType", Message: "The content type " + quoteValue(contentType) + " is not supported; send application/x-www-form-urlencoded.", Status: http.StatusUnsupportedMediaType}
}

// Validation errors raised by generated decoders. All are
// InvalidParameterValue (400) and name the parameter by its full dotted name.

// InvalidValue reports a value that does not parse as kind ("integer",
// "boolean", "timestamp"...).
func InvalidValue(name, value, kind string) *Error {
	return InvalidParameterValue(fmt.Sprintf("Invalid value %s for parameter %s: expected %s.", quoteValue(value), name, kind))
}

// InvalidEnum reports a value outside the allowed enum values.
func InvalidEnum(name, value string, allowed ...string) *Error {
	return InvalidParameterValue(fmt.Sprintf("Invalid value %s for parameter %s. Valid values are: %s.", quoteValue(value), name, strings.Join(allowed, ", ")))
}

// InvalidEnumMessage reports a value outside the allowed enum values with
// the message ElastiCache itself uses for that shape: format has one %s,
// the (truncated) value.
func InvalidEnumMessage(format, value string) *Error {
	return InvalidParameterValue(fmt.Sprintf(format, truncate(value)))
}

// TooShort reports a string shorter than min characters.
func TooShort(name string, min int64) *Error {
	return InvalidParameterValue(fmt.Sprintf("The parameter %s must be at least %d characters long.", name, min))
}

// TooLong reports a string longer than max characters.
func TooLong(name string, max int64) *Error {
	return InvalidParameterValue(fmt.Sprintf("The parameter %s must be at most %d characters long.", name, max))
}

// TooFew reports a list with fewer than min members.
func TooFew(name string, min int64) *Error {
	return InvalidParameterValue(fmt.Sprintf("The parameter %s must contain at least %d member(s).", name, min))
}

// TooMany reports a list with more than max members.
func TooMany(name string, max int64) *Error {
	return InvalidParameterValue(fmt.Sprintf("The parameter %s must contain at most %d member(s).", name, max))
}

// OutOfRange reports a number outside [min, max]; a bound that is "" is absent.
func OutOfRange(name, value, min, max string) *Error {
	var want string
	switch {
	case min != "" && max != "":
		want = "between " + min + " and " + max
	case min != "":
		want = "at least " + min
	default:
		want = "at most " + max
	}
	return InvalidParameterValue(fmt.Sprintf("Invalid value %s for parameter %s: must be %s.", quoteValue(value), name, want))
}

// PatternMismatch reports a string that does not match the model's pattern.
func PatternMismatch(name, value, pattern string) *Error {
	return InvalidParameterValue(fmt.Sprintf("Invalid value %s for parameter %s: must match the pattern %s.", quoteValue(value), name, pattern))
}

// quoteValue returns v, truncated, in single quotes.
func quoteValue(v string) string { return "'" + truncate(v) + "'" }

// truncate cuts v to 64 bytes so that a hostile request cannot make an
// error document large.
func truncate(v string) string {
	const limit = 64
	if len(v) <= limit {
		return v
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(v[cut]) {
		cut--
	}
	return v[:cut] + "..."
}
