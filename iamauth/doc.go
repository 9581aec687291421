// Package iamauth verifies ElastiCache IAM authentication tokens, the
// short-lived passwords IAM-enabled users send in AUTH and HELLO instead of
// a password.
//
// # The token
//
// A token is a SigV4 presigned URL, with its "http://" scheme removed, for
//
//	GET http://<cache-name>/?Action=connect&User=<user-id>[&ResourceType=ServerlessCache]
//
// signed for the service "elasticache" in the cache's region, as AWS's
// samples build it (aws-sdk-go-v2's v4.Signer.PresignHTTP, botocore's
// RequestSigner.generate_presigned_url, the Java SDK's presigner). The
// cache name is the replication group id or the serverless cache name;
// serverless caches add ResourceType=ServerlessCache. Clients send it as
// "AUTH <user-id> <token>" or "HELLO 3 AUTH <user-id> <token>".
//
// # What is checked
//
// Verifier.Verify accepts a token only when all of these hold:
//
//   - it is a presigned URL for host <cache-name> and path "/", with
//     Action=connect, User equal to the user id the client logs in as, and
//     ResourceType=ServerlessCache exactly when the cache is serverless
//     (each parameter once);
//   - X-Amz-Expires, when present, is at most 900 seconds (15 minutes, as
//     ElastiCache allows), and the token is neither expired nor dated more
//     than 15 minutes in the future (sigv4's clock-skew bound);
//   - the signature verifies with sigv4's verifier: scope for service
//     elasticache, a known access key, the HMAC chain over the canonical
//     request, compared in constant time;
//   - the key's account owns the cache, and the scope's region is the
//     cache's region.
//
// In keyward's unauthenticated mode (no credentials configured, Unsigned)
// every check is made but the signature and the account, exactly as API
// requests are then not verified: tokens signed with any key work, so that
// clients can be tested against keyward without real credentials.
//
// Failures are errors whose messages say which check failed, for keyward's
// logs; they never quote the token's signature. Clients get the engine's
// usual WRONGPASS answer whatever failed, as from ElastiCache.
package iamauth
