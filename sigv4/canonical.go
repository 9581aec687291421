package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

const unsignedPayload = "UNSIGNED-PAYLOAD"

// canonicalURI is the request path as sent (already percent-encoded once)
// encoded a second time, as SigV4 requires for every service but S3. An
// empty path is "/". Query-protocol APIs are always served at "/".
func canonicalURI(r *http.Request) string {
	p := r.URL.EscapedPath()
	if p == "" {
		return "/"
	}
	return uriEncode(p, false)
}

// canonicalQuery builds the canonical query string from the raw query:
// each name and value decoded, then re-encoded per RFC 3986, and the pairs
// sorted by encoded name, then encoded value. skip names a parameter to
// leave out (X-Amz-Signature for presigned requests), "" for none.
func canonicalQuery(rawQuery, skip string) string {
	if rawQuery == "" {
		return ""
	}
	type pair struct{ k, v string }
	var pairs []pair
	for kv := range strings.SplitSeq(rawQuery, "&") {
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		k, v = queryUnescape(k), queryUnescape(v)
		if skip != "" && k == skip {
			continue
		}
		pairs = append(pairs, pair{uriEncode(k, true), uriEncode(v, true)})
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].k != pairs[j].k {
			return pairs[i].k < pairs[j].k
		}
		return pairs[i].v < pairs[j].v
	})
	var b strings.Builder
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.k)
		b.WriteByte('=')
		b.WriteString(p.v)
	}
	return b.String()
}

// queryUnescape decodes a query component ("+" is a space, as in forms and
// as the SDKs decode it). A component with a bad escape is kept verbatim;
// its signature then simply does not match.
func queryUnescape(s string) string {
	u, err := url.QueryUnescape(s)
	if err != nil {
		return s
	}
	return u
}

// uriEncode percent-encodes every byte outside the RFC 3986 unreserved set
// (A-Z a-z 0-9 - . _ ~) with upper-case hex. "/" is kept when encodeSlash is
// false (paths) and encoded otherwise (query components).
func uriEncode(s string, encodeSlash bool) string {
	const hexdig = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9',
			c == '-', c == '.', c == '_', c == '~':
			b.WriteByte(c)
		case c == '/' && !encodeSlash:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hexdig[c>>4])
			b.WriteByte(hexdig[c&15])
		}
	}
	return b.String()
}

// headerValue returns the canonical value of one signed header and whether
// the request carries it at all. Host comes from r.Host (Go moves it out of
// r.Header); Content-Length and Transfer-Encoding likewise fall back to the
// fields Go parses them into.
func headerValue(r *http.Request, name string) (string, bool) {
	switch name {
	case "host":
		return canonicalValue(r.Host), r.Host != ""
	case "content-length":
		if v := r.Header.Values("Content-Length"); len(v) > 0 {
			return joinValues(v), true
		}
		if r.ContentLength >= 0 {
			return strconv.FormatInt(r.ContentLength, 10), true
		}
		return "", false
	case "transfer-encoding":
		if v := r.Header.Values("Transfer-Encoding"); len(v) > 0 {
			return joinValues(v), true
		}
		if len(r.TransferEncoding) > 0 {
			return joinValues(r.TransferEncoding), true
		}
		return "", false
	}
	v := r.Header.Values(name)
	if len(v) == 0 {
		return "", false
	}
	return joinValues(v), true
}

// joinValues joins the values of a repeated header with "," after
// canonicalising each one.
func joinValues(vs []string) string {
	if len(vs) == 1 {
		return canonicalValue(vs[0])
	}
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = canonicalValue(v)
	}
	return strings.Join(out, ",")
}

// canonicalValue trims a header value and collapses runs of spaces into
// one, as the SigV4 specification and the AWS SDKs do.
func canonicalValue(v string) string {
	v = strings.TrimSpace(v)
	if !strings.Contains(v, "  ") {
		return v
	}
	var b strings.Builder
	b.Grow(len(v))
	space := false
	for i := 0; i < len(v); i++ {
		if v[i] == ' ' {
			if space {
				continue
			}
			space = true
		} else {
			space = false
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

// canonicalRequest assembles the SigV4 canonical request. signed must be
// lower-case and sorted.
func canonicalRequest(r *http.Request, query string, signed []string, payloadHash string) string {
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	b.WriteString(canonicalURI(r))
	b.WriteByte('\n')
	b.WriteString(query)
	b.WriteByte('\n')
	for _, name := range signed {
		v, _ := headerValue(r, name)
		b.WriteString(name)
		b.WriteByte(':')
		b.WriteString(v)
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(signed, ";"))
	b.WriteByte('\n')
	b.WriteString(payloadHash)
	return b.String()
}

// stringToSign is the second SigV4 step: algorithm, request time, scope and
// the hash of the canonical request.
func stringToSign(amzDate, scope, canonical string) string {
	sum := sha256.Sum256([]byte(canonical))
	return Algorithm + "\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
}

// signingKey derives the SigV4 key for one day, region and service.
func signingKey(secret, date, region, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), date)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	return hmacSHA256(k, scopeTerminator)
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

func hashHex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
