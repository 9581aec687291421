package iamauth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// emptyHash is the SHA-256 of an empty payload, which AWS's Go sample signs.
var emptyHash = func() string { s := sha256.Sum256(nil); return hex.EncodeToString(s[:]) }()

// Presign builds a token for user on res exactly as AWS's aws-sdk-go-v2
// sample does (v4.Signer.PresignHTTP of GET http://<name>/?Action=connect&
// User=<user>, X-Amz-Expires=expires, "http://" removed). It is the client
// side, for tests, benchmarks and tools; keyward itself only verifies.
func Presign(ctx context.Context, creds aws.Credentials, res Resource, user string, expires time.Duration, at time.Time) (string, error) {
	q := url.Values{"Action": {"connect"}, "User": {user}}
	if res.Serverless {
		q.Set("ResourceType", "ServerlessCache")
	}
	q.Set("X-Amz-Expires", strconv.Itoa(int(expires/time.Second)))
	req, err := http.NewRequest(http.MethodGet, "http://"+res.Name+"/?"+q.Encode(), nil)
	if err != nil {
		return "", err
	}
	signed, _, err := v4.NewSigner().PresignHTTP(ctx, creds, req, emptyHash, "elasticache", res.Region, at)
	if err != nil {
		return "", err
	}
	return strings.TrimPrefix(signed, "http://"), nil
}
