package sigv4

import (
	"crypto/hmac"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of a zero Verifier.
const (
	DefaultService = "elasticache"
	DefaultMaxSkew = 15 * time.Minute
)

// maxPresignExpires is the largest X-Amz-Expires SigV4 allows (7 days).
const maxPresignExpires = 7 * 24 * 60 * 60

// Verifier checks AWS Signature Version 4 signatures against a fixed set
// of credentials. A Verifier is safe for concurrent use once built; it is
// not to be modified while in use.
type Verifier struct {
	// Credentials by access key id.
	Credentials map[string]Credential
	// Service is the signing name expected in the credential scope;
	// "" means DefaultService ("elasticache").
	Service string
	// MaxSkew is how far a request's date may lie from Now, either way;
	// 0 means DefaultMaxSkew (15 minutes, as AWS). It also caps the lifetime
	// of presigned requests.
	MaxSkew time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Regions reports whether this server serves a region; nil means every
	// well-formed region name. A scope naming another region is refused as
	// an AWS endpoint refuses a scope for a region it does not serve.
	Regions func(region string) bool

	// keys caches derived signing keys (see signingKeyFor).
	keys  sync.Map // keyScope → []byte
	nkeys atomic.Int32
}

// keyScope names a signing key: the credential and the scope it is derived
// for. The key depends on the secret too, which is fixed for an access key
// id while the Verifier is in use.
type keyScope struct{ accessKeyID, date, region, service string }

// maxSigningKeys bounds the cache; the scopes that pass the checks are few
// (a credential's served regions on the two or three dates within the
// skew), so it only empties when that is not so.
const maxSigningKeys = 1024

// signingKeyFor is signingKey for cred and the scope, derived once per
// day, region and service instead of four HMACs per request, as the SDKs
// do on their side.
func (v *Verifier) signingKeyFor(cred Credential, sc credentialScope) []byte {
	ks := keyScope{sc.AccessKeyID, sc.Date, sc.Region, sc.Service}
	if k, ok := v.keys.Load(ks); ok {
		return k.([]byte)
	}
	k := signingKey(cred.SecretAccessKey, sc.Date, sc.Region, sc.Service)
	if v.nkeys.Add(1) > maxSigningKeys {
		v.keys.Clear()
		v.nkeys.Store(1)
	}
	v.keys.Store(ks, k)
	return k
}

func (v *Verifier) service() string {
	if v.Service == "" {
		return DefaultService
	}
	return v.Service
}

func (v *Verifier) maxSkew() time.Duration {
	if v.MaxSkew <= 0 {
		return DefaultMaxSkew
	}
	return v.MaxSkew
}

func (v *Verifier) now() time.Time {
	if v.Now == nil {
		return time.Now()
	}
	return v.Now()
}

// claim is what a request says about its own signature, parsed and
// structurally checked but not yet verified.
type claim struct {
	presigned bool
	scope     credentialScope
	signed    []string // lower-case, sorted
	signature string   // hex, as sent
	amzDate   string   // request time as it enters the string to sign
	t         time.Time
	expires   time.Duration // presigned only: effective lifetime
	query     string        // canonical query string
}

// Verify authenticates r, whose body has already been read into body (r.Body
// is not touched). It accepts the Authorization header form and the
// presigned query-string form of SigV4 and returns the caller the
// signature proves: the credential's account, the region of the credential
// scope and the access key id. Every error is an *Error.
func (v *Verifier) Verify(r *http.Request, body []byte) (Caller, error) {
	p, err := v.Precheck(r)
	if err != nil {
		return Caller{}, err
	}
	return p.Verify(r, body)
}

// Prechecked is a request whose signature claim passed every check that
// needs no body: its form, scope, region, time window and access key. Only
// the signature itself, which covers the body's hash, is left.
type Prechecked struct {
	v     *Verifier
	c     *claim
	cred  Credential
	given []byte
}

// Precheck runs every check of Verify that reads only the request line and
// headers, so that a request that can never authenticate (no signature, an
// unknown key, a wrong region or date) is refused before its body is read:
// an unauthenticated client cannot make the server wait for, or hold, a
// body. Every error is an *Error.
func (v *Verifier) Precheck(r *http.Request) (*Prechecked, error) {
	c, err := v.parse(r)
	if err != nil {
		return nil, err
	}
	if err := v.checkScope(c); err != nil {
		return nil, err
	}
	if err := v.checkTime(c); err != nil {
		return nil, err
	}
	cred, ok := v.Credentials[c.scope.AccessKeyID]
	if !ok || cred.SecretAccessKey == "" {
		return nil, errInvalidClientToken()
	}
	// A header the client signed but the request no longer carries means
	// the request was altered (or a proxy dropped it): reject it outright
	// rather than sign an empty value.
	for _, name := range c.signed {
		if _, present := headerValue(r, name); !present {
			return nil, errSignatureMismatch()
		}
	}
	given, err := hex.DecodeString(c.signature)
	if err != nil || len(given) != 32 {
		return nil, errSignatureMismatch()
	}
	return &Prechecked{v: v, c: c, cred: cred, given: given}, nil
}

// Verify finishes the verification of the prechecked request r with its
// body, and returns the caller the signature proves.
func (p *Prechecked) Verify(r *http.Request, body []byte) (Caller, error) {
	c := p.c
	payloads, err := payloadHashes(r, c.presigned, body)
	if err != nil {
		return Caller{}, err
	}
	key := p.v.signingKeyFor(p.cred, c.scope)
	match := false
	for _, h := range payloads {
		sts := stringToSign(c.amzDate, c.scope.scope(), canonicalRequest(r, c.query, c.signed, h))
		// Constant-time comparison; every candidate is computed and
		// compared so the time taken does not tell which one matched.
		if hmac.Equal(hmacSHA256(key, sts), p.given) {
			match = true
		}
	}
	if !match {
		return Caller{}, errSignatureMismatch()
	}
	return Caller{AccountID: p.cred.AccountID, Region: c.scope.Region, AccessKeyID: c.scope.AccessKeyID}, nil
}

// parse finds which form of SigV4 r uses and parses it.
func (v *Verifier) parse(r *http.Request) (*claim, error) {
	var authz []string
	for _, h := range r.Header.Values("Authorization") {
		if strings.TrimSpace(h) != "" { // an empty header is no header
			authz = append(authz, h)
		}
	}
	presign := hasPresignParams(r.URL.RawQuery)
	switch {
	case len(authz) > 0 && presign:
		return nil, errIncomplete("Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified")
	case len(authz) > 1:
		return nil, errIncomplete("Only one Authorization header is allowed")
	case len(authz) == 1:
		return v.parseHeader(r, authz[0])
	case presign:
		return v.parsePresigned(r)
	}
	return nil, errMissingAuth()
}

func hasPresignParams(rawQuery string) bool {
	if !strings.Contains(rawQuery, "X-Amz-") {
		return false
	}
	q, _ := url.ParseQuery(rawQuery)
	for _, k := range []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature"} {
		if _, ok := q[k]; ok {
			return true
		}
	}
	return false
}

func (v *Verifier) parseHeader(r *http.Request, raw string) (*claim, error) {
	a, err := parseAuthorization(raw)
	if err == errNotSigV4 {
		return nil, errIncomplete("Unsupported Authorization type '%s'; sign requests with AWS Signature Version 4 (AWS4-HMAC-SHA256).", echo(a.Algorithm))
	}
	if err != nil {
		return nil, err
	}
	if msg := a.missingParts(raw); msg != "" {
		return nil, errIncomplete("%s", msg)
	}
	c := &claim{signature: a.Signature}
	if c.scope, err = parseCredential(a.Credential); err != nil {
		return nil, err
	}
	if c.signed, err = parseSignedHeaders(a.SignedHeaders); err != nil {
		return nil, err
	}
	if d := r.Header.Get("X-Amz-Date"); d != "" {
		t, err := parseAmzDate(d)
		if err != nil {
			return nil, errIncomplete("X-Amz-Date must be in the ISO8601 basic format YYYYMMDD'T'HHMMSS'Z', got '%s'", echo(d))
		}
		c.t, c.amzDate = t, d
	} else if d := r.Header.Get("Date"); d != "" {
		t, err := http.ParseTime(d)
		if err != nil {
			return nil, errIncomplete("Date must be an HTTP date, got '%s'", echo(d))
		}
		c.t = t.UTC()
		c.amzDate = c.t.Format(amzDateLayout)
	} else {
		return nil, errIncomplete("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=%s", echo(raw))
	}
	if !contains(c.signed, "host") {
		return nil, errIncomplete("'Host' must be a 'SignedHeader' in the AWS Authorization.")
	}
	c.query = canonicalQuery(r.URL.RawQuery, "")
	return c, nil
}

func (v *Verifier) parsePresigned(r *http.Request) (*claim, error) {
	q, _ := url.ParseQuery(r.URL.RawQuery)
	get := func(k string) (string, error) {
		vs := q[k]
		if len(vs) > 1 {
			return "", errIncomplete("Query-string parameter '%s' must appear only once.", k)
		}
		if len(vs) == 0 {
			return "", nil
		}
		return vs[0], nil
	}
	vals := map[string]string{}
	for _, k := range []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-Date", "X-Amz-SignedHeaders", "X-Amz-Expires"} {
		s, err := get(k)
		if err != nil {
			return nil, err
		}
		if s == "" && k != "X-Amz-Expires" {
			return nil, errIncomplete("AWS query-string parameters must include 'X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Signature', 'X-Amz-Date', 'X-Amz-SignedHeaders'. Re-examine the query-string parameters.")
		}
		vals[k] = s
	}
	if vals["X-Amz-Algorithm"] != Algorithm {
		return nil, errIncomplete("X-Amz-Algorithm only supports '%s', got '%s'", Algorithm, echo(vals["X-Amz-Algorithm"]))
	}
	c := &claim{presigned: true, signature: vals["X-Amz-Signature"]}
	var err error
	if c.scope, err = parseCredential(vals["X-Amz-Credential"]); err != nil {
		return nil, err
	}
	if c.signed, err = parseSignedHeaders(vals["X-Amz-SignedHeaders"]); err != nil {
		return nil, err
	}
	d := vals["X-Amz-Date"]
	if c.t, err = parseAmzDate(d); err != nil {
		return nil, errIncomplete("X-Amz-Date must be in the ISO8601 basic format YYYYMMDD'T'HHMMSS'Z', got '%s'", echo(d))
	}
	c.amzDate = d
	// Like the non-S3 AWS services, which treat presigned requests as
	// ordinary signed ones valid for 15 minutes, the lifetime is capped at
	// MaxSkew: a presigned URL is a bearer token for whatever action it
	// names, and a control plane has no use for week-long ones. A shorter
	// X-Amz-Expires is honoured.
	c.expires = v.maxSkew()
	if e := vals["X-Amz-Expires"]; e != "" {
		n, err := strconv.Atoi(e)
		if err != nil || n < 1 || n > maxPresignExpires {
			return nil, errIncomplete("X-Amz-Expires must be an integer number of seconds between 1 and %d, got '%s'", maxPresignExpires, echo(e))
		}
		if d := time.Duration(n) * time.Second; d < c.expires {
			c.expires = d
		}
	}
	if !contains(c.signed, "host") {
		return nil, errIncomplete("'Host' must be a 'SignedHeader' in the AWS Authorization.")
	}
	c.query = canonicalQuery(r.URL.RawQuery, "X-Amz-Signature")
	return c, nil
}

// parseAmzDate parses an ISO 8601 basic timestamp, strictly: exactly
// YYYYMMDDTHHMMSSZ (time.Parse alone would also take fractional seconds).
func parseAmzDate(s string) (time.Time, error) {
	if len(s) != len(amzDateLayout) {
		return time.Time{}, errors.New("bad length")
	}
	return time.Parse(amzDateLayout, s)
}

// checkScope compares a well-formed scope with what this server signs for.
// The messages are AWS's.
func (v *Verifier) checkScope(c *claim) error {
	if c.scope.Terminator != scopeTerminator {
		return errIncomplete("Credential should be scoped with a valid terminator: '%s', not '%s'.", scopeTerminator, echo(c.scope.Terminator))
	}
	if c.scope.Service != v.service() {
		return errSignatureScope("Credential should be scoped to correct service: '%s'.", v.service())
	}
	if v.Regions != nil && !v.Regions(c.scope.Region) {
		return errUnservedRegion(c.scope.Region)
	}
	if day := c.amzDate[:8]; c.scope.Date != day {
		return errSignatureScope("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.", c.scope.Date, day, c.amzDate)
	}
	return nil
}

// checkTime enforces the validity window.
//
// Code choice: AWS documents a generic RequestExpired (400) among the
// common errors, but the Query-protocol services whose actual answers are on
// record (STS for GetCallerIdentity and AssumeRole, SNS) send a stale or
// future-dated signature SignatureDoesNotMatch (403) with the messages
// "Signature expired: <date> is now earlier than <limit> (<now> - 15 min.)"
// and "Signature not yet current: <date> is still later than <limit>
// (<now> + 15 min.)". ElastiCache is a Query service of the same family, and
// that answer is what SDKs, tools and users recognise, so it is the one
// given here, for presigned requests past their lifetime too.
func (v *Verifier) checkTime(c *claim) error {
	now := v.now().UTC().Truncate(time.Second)
	skew := v.maxSkew()
	if c.t.After(now.Add(skew)) {
		return errSignatureScope("Signature not yet current: %s is still later than %s (%s + %s)",
			c.amzDate, now.Add(skew).Format(amzDateLayout), now.Format(amzDateLayout), fmtDuration(skew))
	}
	window := skew
	if c.presigned {
		window = c.expires
	}
	if c.t.Before(now.Add(-window)) {
		return errSignatureScope("Signature expired: %s is now earlier than %s (%s - %s)",
			c.amzDate, now.Add(-window).Format(amzDateLayout), now.Format(amzDateLayout), fmtDuration(window))
	}
	return nil
}

// fmtDuration writes d the way AWS's messages do ("15 min."), falling back
// to seconds for durations that are not whole minutes.
func fmtDuration(d time.Duration) string {
	if d%time.Minute == 0 {
		return fmt.Sprintf("%d min.", int64(d/time.Minute))
	}
	return fmt.Sprintf("%d sec.", int64(d/time.Second))
}

// payloadHashes returns the payload hashes the signature may have been
// computed over.
//
// With an X-Amz-Content-Sha256 header, its value is used when it matches
// the body (compared case-insensitively) and the request is rejected when it
// does not. UNSIGNED-PAYLOAD is accepted only for presigned requests without
// a body: a presigned URL that left its body unsigned would let anyone
// holding it substitute the body, that is, the Query action and parameters.
func payloadHashes(r *http.Request, presigned bool, body []byte) ([]string, error) {
	sum := hashHex(body)
	unsignedOK := presigned && len(body) == 0
	switch x := r.Header.Get("X-Amz-Content-Sha256"); {
	case x == "":
		if unsignedOK {
			return []string{sum, unsignedPayload}, nil
		}
		return []string{sum}, nil
	case x == unsignedPayload:
		if unsignedOK {
			return []string{unsignedPayload}, nil
		}
		return nil, errSignatureScope("UNSIGNED-PAYLOAD is accepted only for presigned requests without a body.")
	case strings.EqualFold(x, sum):
		return []string{x}, nil
	default:
		return nil, errSignatureScope("The provided 'x-amz-content-sha256' header does not match what was computed.")
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
