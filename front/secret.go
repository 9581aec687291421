package front

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
)

// Secret is the internal password of IAM user user on the cache named by
// cache (any string unique to the cache, e.g. its ARN): the front logs in
// with it after verifying the user's token. key is the fronts' key.
func Secret(key []byte, cache, user string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("keyward-iam-user\x00"))
	m.Write([]byte(cache))
	m.Write([]byte{0})
	m.Write([]byte(user))
	return hex.EncodeToString(m.Sum(nil))
}

// SecretHash is the SHA-256 of Secret in hex, the form ACL rules ("#<hash>")
// take, for keyward to put on the nodes.
func SecretHash(key []byte, cache, user string) string {
	return SHA256Hex(Secret(key, cache, user))
}

// SHA256Hex is the hex SHA-256 of s, the form of "#<hash>" ACL rules.
func SHA256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
