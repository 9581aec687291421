package iamauth

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"keyward/sigv4"
)

// MaxExpires is the longest lifetime a token may declare: ElastiCache's
// tokens are valid for at most 15 minutes.
const MaxExpires = 900

// Resource is the cache a client connects to.
type Resource struct {
	// Name is the replication group id or serverless cache name, the host
	// the token is signed for.
	Name string
	// Serverless caches' tokens carry ResourceType=ServerlessCache.
	Serverless bool
	// AccountID and Region are the cache's scope: the signing key must
	// belong to that account and the scope name that region.
	AccountID string
	Region    string
}

// Verifier checks tokens against the SigV4 credentials keyward serves the
// API with.
type Verifier struct {
	// SigV4 verifies the presigned request; its Credentials are keyward's,
	// its Now and MaxSkew the clock and skew bound.
	SigV4 *sigv4.Verifier
	// Unsigned is keyward's unauthenticated mode (no credentials): every
	// check is made but the signature's and the account's, as API requests
	// are not verified either. SigV4 then only supplies the clock; nil
	// means the defaults.
	Unsigned bool
}

// ErrNotToken is returned for a password that does not have the shape of
// an IAM token at all.
var ErrNotToken = errors.New("iamauth: not an IAM authentication token")

// LooksLikeToken reports whether password has the shape of an IAM token (a
// presigned connect URL), so that a front can tell a token from an
// ordinary password without verifying it.
func LooksLikeToken(password string) bool {
	return strings.Contains(password, "/?") && strings.Contains(password, "X-Amz-Signature=") &&
		strings.Contains(password, "Action=connect")
}

// Verify checks that token lets user connect to res and returns the caller
// its signature proves. Every failure is an error naming the failed check.
func (v *Verifier) Verify(user, token string, res Resource) (sigv4.Caller, error) {
	if v == nil || (v.SigV4 == nil && !v.Unsigned) {
		return sigv4.Caller{}, errors.New("iamauth: no credentials configured")
	}
	// AWS's samples strip "http://" (botocore-based ones "https://");
	// accept a token that kept it too: the scheme is not signed, the host is.
	rest := strings.TrimPrefix(strings.TrimPrefix(token, "http://"), "https://")
	host, query, ok := strings.Cut(rest, "/?")
	if !ok || host == "" || strings.ContainsAny(host, "/@ ") {
		return sigv4.Caller{}, ErrNotToken
	}
	if host != res.Name {
		return sigv4.Caller{}, fmt.Errorf("iamauth: token is for cache %q, not %q", trunc(host), res.Name)
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return sigv4.Caller{}, fmt.Errorf("iamauth: token query: %w", err)
	}
	one := func(k string) (string, error) {
		switch vs := q[k]; len(vs) {
		case 0:
			return "", nil
		case 1:
			return vs[0], nil
		default:
			return "", fmt.Errorf("iamauth: %s appears %d times", k, len(vs))
		}
	}
	action, err := one("Action")
	if err != nil {
		return sigv4.Caller{}, err
	}
	if action != "connect" {
		return sigv4.Caller{}, fmt.Errorf("iamauth: Action is %q, not connect", trunc(action))
	}
	tokUser, err := one("User")
	if err != nil {
		return sigv4.Caller{}, err
	}
	if tokUser != user {
		return sigv4.Caller{}, fmt.Errorf("iamauth: token is for user %q, not %q", trunc(tokUser), trunc(user))
	}
	rt, err := one("ResourceType")
	if err != nil {
		return sigv4.Caller{}, err
	}
	switch {
	case res.Serverless && rt != "ServerlessCache":
		return sigv4.Caller{}, fmt.Errorf("iamauth: token for a serverless cache lacks ResourceType=ServerlessCache")
	case !res.Serverless && rt != "":
		return sigv4.Caller{}, fmt.Errorf("iamauth: token has ResourceType %q but %q is a replication group", trunc(rt), res.Name)
	}
	exp, err := one("X-Amz-Expires")
	if err != nil {
		return sigv4.Caller{}, err
	}
	if exp != "" {
		n, err := strconv.Atoi(exp)
		if err != nil || n < 1 || n > MaxExpires {
			return sigv4.Caller{}, fmt.Errorf("iamauth: X-Amz-Expires %q is not between 1 and %d seconds", trunc(exp), MaxExpires)
		}
	}
	if _, present := q["X-Amz-Signature"]; !present {
		return sigv4.Caller{}, ErrNotToken
	}
	// The presigned request as the client signed it: GET, host <cache>,
	// path "/", no body. sigv4 checks scope, time, key and signature.
	r := &http.Request{
		Method: http.MethodGet,
		Host:   host,
		URL:    &url.URL{Path: "/", RawQuery: query},
		Header: http.Header{},
	}
	if v.Unsigned {
		// A verifier without keys makes every check up to the key lookup
		// (shape, scope, service, time) and then answers
		// InvalidClientTokenId: that answer means all of them passed.
		sv := &sigv4.Verifier{}
		if v.SigV4 != nil {
			sv.Now, sv.MaxSkew, sv.Service = v.SigV4.Now, v.SigV4.MaxSkew, v.SigV4.Service
		}
		_, err := sv.Verify(r, nil)
		var se *sigv4.Error
		if !errors.As(err, &se) || se.Code != sigv4.CodeInvalidClientTokenID {
			return sigv4.Caller{}, fmt.Errorf("iamauth: %w", err)
		}
		caller := sigv4.CallerFromUnsigned(r, res.Region, res.AccountID)
		if caller.Region != res.Region {
			return sigv4.Caller{}, fmt.Errorf("iamauth: token is signed for region %q, the cache is in %q", trunc(caller.Region), res.Region)
		}
		return caller, nil
	}
	caller, err := v.SigV4.Verify(r, nil)
	if err != nil {
		return sigv4.Caller{}, fmt.Errorf("iamauth: %w", err)
	}
	if caller.AccountID != res.AccountID {
		return sigv4.Caller{}, fmt.Errorf("iamauth: key %s belongs to account %s, not the cache's account %s", caller.AccessKeyID, caller.AccountID, res.AccountID)
	}
	if res.Region != "" && caller.Region != res.Region {
		return sigv4.Caller{}, fmt.Errorf("iamauth: token is signed for region %q, the cache is in %q", trunc(caller.Region), res.Region)
	}
	return caller, nil
}

// trunc bounds what an error quotes from a client.
func trunc(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
