package keyward

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// Error kinds. The api package maps each (kind, resource) pair to exactly one
// ElastiCache fault; anything it cannot map is an internal failure.
const (
	EINVALID               = "invalid"                 // InvalidParameterValue
	ECOMBINATION           = "combination"             // InvalidParameterCombination
	ENOTFOUND              = "not_found"               // <Resource>NotFound
	EEXISTS                = "exists"                  // <Resource>AlreadyExists
	ESTATE                 = "state"                   // Invalid<Resource>State
	EQUOTA                 = "quota"                   // <Resource>QuotaExceeded
	ETAGQUOTA              = "tag_quota"               // TagQuotaPerResourceExceeded
	ETAGNOTFOUND           = "tag_not_found"           // TagNotFound
	EINVALIDARN            = "invalid_arn"             // InvalidARN
	EDEFAULTUSERREQUIRED   = "default_user_required"   // DefaultUserRequired
	EDUPLICATEUSERNAME     = "duplicate_user_name"     // DuplicateUserName
	EDEFAULTUSERASSOCIATED = "default_user_associated" // DefaultUserAssociatedToUserGroup
	EREFERENCED            = "referenced"              // a Restrict reference holds the target (store backstop)
	EMIGRATING             = "migrating"               // <Resource>AlreadyUnderMigration
	ENOTMIGRATING          = "not_migrating"           // <Resource>NotUnderMigration
	ECONFLICT              = "conflict"                // a concurrent transaction won; retry
	EINTERNAL              = "internal"                // anything else; never shown in detail
)

// Resource names the kind of object an error is about, so that one kind
// (ENOTFOUND) can become the right fault (UserNotFound, UserGroupNotFound...).
type Resource string

// Resources that errors can be about.
const (
	ResourceNone             Resource = ""
	ResourceUser             Resource = "user"
	ResourceUserGroup        Resource = "usergroup"
	ResourceReplicationGroup Resource = "replicationgroup"
	ResourceServerlessCache  Resource = "serverlesscache"
	ResourceCacheCluster     Resource = "cluster"
)

// Error is keyward's application error. Message is safe to return to API
// callers; Err is an internal cause for logs only.
type Error struct {
	Code     string
	Resource Resource
	Message  string
	Err      error
}

// Error implements the error interface. It never includes Err's text for
// codes other than EINTERNAL, so a public message cannot leak internals.
func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("keyward %s %s: %s: %v", e.Code, e.Resource, e.Message, e.Err)
	}
	return fmt.Sprintf("keyward %s %s: %s", e.Code, e.Resource, e.Message)
}

// Unwrap returns the internal cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with a formatted public message. String
// arguments, which are often client-supplied values, are quoted at most
// MaxQuotedBytes long and with control characters and invalid UTF-8
// replaced, so that a hostile value cannot make an error document large
// or carry bytes a client would misread.
func Errorf(code string, res Resource, format string, args ...any) *Error {
	args = slices.Clone(args) // the caller's slice stays as it was
	for i, a := range args {
		if s, ok := a.(string); ok {
			args[i] = BoundValue(s)
		}
	}
	return &Error{Code: code, Resource: res, Message: fmt.Sprintf(format, args...)}
}

// MaxQuotedBytes bounds a value quoted in an error message. It leaves whole
// messages re-wrapped with "%s" (all shorter) intact.
const MaxQuotedBytes = 512

// BoundValue returns s cut to MaxQuotedBytes (at a character boundary, with
// "..." appended), with invalid UTF-8 and control characters replaced by '?'.
func BoundValue(s string) string {
	cut := len(s) > MaxQuotedBytes
	if cut {
		n := MaxQuotedBytes
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s = s[:n]
	}
	s = strings.Map(func(r rune) rune {
		if IsControl(r) {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
	if cut {
		s += "..."
	}
	return s
}

// IsControl reports whether r is a control character (C0, DEL or C1).
func IsControl(r rune) bool { return r < 0x20 || r >= 0x7f && r <= 0x9f }

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL
// for any other non-nil error and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the public message of err, or a generic text for
// errors that are not *Error (their details belong in logs, not responses).
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) && e.Code != EINTERNAL {
		return e.Message
	}
	return "An internal error occurred."
}
