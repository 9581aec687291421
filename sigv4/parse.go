package sigv4

import (
	"errors"
	"slices"
	"sort"
	"strings"
)

// Algorithm is the only signing algorithm accepted.
const Algorithm = "AWS4-HMAC-SHA256"

const (
	scopeTerminator = "aws4_request"
	amzDateLayout   = "20060102T150405Z"
	scopeDateLayout = "20060102"

	// maxEchoLen bounds how much of a client-supplied value is echoed back
	// in an error message.
	maxEchoLen = 512
)

// authHeader is the parsed form of an Authorization header. Fields are
// empty when the corresponding part was absent.
type authHeader struct {
	Algorithm     string
	Credential    string
	SignedHeaders string
	Signature     string
}

var errNotSigV4 = errors.New("sigv4: not an AWS4-HMAC-SHA256 Authorization header")

// parseAuthorization splits an Authorization header of the form
//
//	AWS4-HMAC-SHA256 Credential=AKID/20261126/us-east-1/elasticache/aws4_request, SignedHeaders=host;x-amz-date, Signature=0123...
//
// into its parts. Separators may be "," or ", ". It reports which of the
// three parts are missing through empty fields and fails only on an
// algorithm other than AWS4-HMAC-SHA256, on a part without "=", and on a
// repeated part. Unknown parts are ignored, as AWS does.
func parseAuthorization(h string) (authHeader, error) {
	var a authHeader
	h = strings.TrimSpace(h)
	alg, rest, _ := strings.Cut(h, " ")
	if alg != Algorithm {
		a.Algorithm = alg
		return a, errNotSigV4
	}
	a.Algorithm = alg
	// The parts seen so far: a header has a handful, so a scan of a
	// fixed array beats a map (which would be allocated per request).
	var seenArr [8]string
	seen := seenArr[:0]
	for part := range strings.SplitSeq(rest, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return a, errIncomplete("Authorization header requires each component to be of the form key=value. Authorization=%s", echo(h))
		}
		k = strings.TrimSpace(k)
		v = strings.TrimSpace(v)
		if slices.Contains(seen, k) {
			return a, errIncomplete("Authorization header has a duplicate '%s' parameter. Authorization=%s", echo(k), echo(h))
		}
		seen = append(seen, k)
		switch k {
		case "Credential":
			a.Credential = v
		case "SignedHeaders":
			a.SignedHeaders = v
		case "Signature":
			a.Signature = v
		}
	}
	return a, nil
}

// missingParts returns AWS's message for the parts absent from a, or "".
func (a authHeader) missingParts(raw string) string {
	var b strings.Builder
	for _, p := range []struct{ name, v string }{
		{"Credential", a.Credential},
		{"Signature", a.Signature},
		{"SignedHeaders", a.SignedHeaders},
	} {
		if p.v == "" {
			b.WriteString("Authorization header requires '" + p.name + "' parameter. ")
		}
	}
	if b.Len() == 0 {
		return ""
	}
	b.WriteString("Authorization=" + echo(raw))
	return b.String()
}

// credentialScope is "AKID/date/region/service/aws4_request" taken apart.
type credentialScope struct {
	AccessKeyID string
	Date        string // YYYYMMDD
	Region      string
	Service     string
	Terminator  string
}

// scope returns the scope without the access key id, as it appears in the
// string to sign.
func (c credentialScope) scope() string {
	return c.Date + "/" + c.Region + "/" + c.Service + "/" + c.Terminator
}

// parseCredential splits and structurally validates a credential. Checks
// against this server's expectations (service, terminator, date) are the
// Verifier's.
func parseCredential(cred string) (credentialScope, error) {
	// Split into a fixed array: strings.Split would allocate per request.
	var parts [5]string
	n, rest := 0, cred
	for ; n < len(parts); n++ {
		var ok bool
		if parts[n], rest, ok = strings.Cut(rest, "/"); !ok {
			break
		}
	}
	if n != len(parts)-1 {
		return credentialScope{}, errIncomplete("Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '%s'", echo(cred))
	}
	c := credentialScope{parts[0], parts[1], parts[2], parts[3], parts[4]}
	if c.AccessKeyID == "" {
		return c, errIncomplete("Credential must contain an access key id, got '%s'", echo(cred))
	}
	if !isScopeDate(c.Date) {
		return c, errIncomplete("Credential should be scoped to a valid date in YYYYMMDD form, not '%s'.", echo(c.Date))
	}
	if !validRegion(c.Region) {
		return c, errIncomplete("Credential should be scoped to a valid region, not '%s'.", echo(c.Region))
	}
	if c.Service == "" {
		return c, errIncomplete("Credential should be scoped to a service, got '%s'", echo(cred))
	}
	return c, nil
}

func isScopeDate(s string) bool {
	if len(s) != 8 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// validRegion accepts region names of the AWS shape (lower-case letters,
// digits and dashes, 1 to 32 characters). The region ends up in ARNs and
// in the Caller, so it is checked even though any region is served.
func validRegion(s string) bool {
	if s == "" || len(s) > 32 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// parseSignedHeaders lower-cases, sorts and checks a SignedHeaders list.
func parseSignedHeaders(s string) ([]string, error) {
	names := strings.Split(s, ";")
	for i, n := range names {
		n = strings.ToLower(strings.TrimSpace(n))
		if n == "" || !isToken(n) {
			return nil, errIncomplete("SignedHeaders must be a semicolon-separated list of header names, got '%s'", echo(s))
		}
		names[i] = n
	}
	sort.Strings(names)
	for i := 1; i < len(names); i++ {
		if names[i] == names[i-1] {
			return nil, errIncomplete("SignedHeaders lists '%s' more than once", echo(names[i]))
		}
	}
	return names, nil
}

// isToken reports whether s is an RFC 7230 header field name.
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return s != ""
}

// echo makes a client-supplied value safe to repeat in a message: it is
// bounded in length and stripped of control characters. Nothing passed to
// echo is ever a secret: access key ids, scopes, dates and signatures are
// all public parts of a request.
func echo(s string) string {
	if len(s) > maxEchoLen {
		s = s[:maxEchoLen] + "..."
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}
