package sigv4

import (
	"net/http"
	"net/url"
	"strings"
)

// DefaultAccountID is the account of every caller in unauthenticated mode.
const DefaultAccountID = "000000000000"

// CallerFromUnsigned is the caller of a request in unauthenticated mode
// (no credentials configured). Nothing is verified. SDKs and the CLI sign
// every request, even with dummy keys, so the region is taken from the
// credential scope of the Authorization header (or of X-Amz-Credential for
// a presigned request) when there is a well-formed one, and is
// defaultRegion otherwise; the access key id is taken from there too. The
// account is defaultAccount, or DefaultAccountID when that is "".
func CallerFromUnsigned(r *http.Request, defaultRegion, defaultAccount string) Caller {
	if defaultAccount == "" {
		defaultAccount = DefaultAccountID
	}
	c := Caller{AccountID: defaultAccount, Region: defaultRegion}
	var cred string
	if h := r.Header.Get("Authorization"); h != "" {
		if a, err := parseAuthorization(h); err == nil {
			cred = a.Credential
		}
	} else if strings.Contains(r.URL.RawQuery, "X-Amz-Credential") {
		q, _ := url.ParseQuery(r.URL.RawQuery)
		cred = q.Get("X-Amz-Credential")
	}
	if cred != "" {
		if s, err := parseCredential(cred); err == nil {
			c.Region = s.Region
			if validKeyID(s.AccessKeyID) {
				c.AccessKeyID = s.AccessKeyID
			}
		}
	}
	return c
}
