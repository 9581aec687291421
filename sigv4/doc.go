// Package sigv4 authenticates requests to keyward's ElastiCache Query API
// with AWS Signature Version 4, so that the AWS SDKs, the AWS CLI and
// Terraform can talk to keyward with ordinary access keys, and so that the
// account a request acts in is proven rather than claimed.
//
// # What is verified
//
// Verifier.Verify accepts the two forms of SigV4 the SDKs produce:
//
//   - the Authorization header, "AWS4-HMAC-SHA256 Credential=AKID/DATE/
//     REGION/SERVICE/aws4_request, SignedHeaders=..., Signature=...", with
//     the request time in X-Amz-Date (or, failing that, Date);
//   - the presigned query string: X-Amz-Algorithm, X-Amz-Credential,
//     X-Amz-Date, X-Amz-SignedHeaders, X-Amz-Signature and optionally
//     X-Amz-Expires.
//
// It checks, in this order, and answers the error AWS Query services answer:
//
//   - that there is a signature at all (else 403 MissingAuthenticationToken)
//     and only one (header and query-string forms are not mixed);
//   - that it is well formed: algorithm AWS4-HMAC-SHA256, all three parts
//     of the header, a five-element credential scope ending in
//     aws4_request, a parseable date, a SignedHeaders list that includes
//     host (else 400 IncompleteSignature);
//   - that the scope names this service (Verifier.Service, "elasticache")
//     and the day of the request date (else 403 SignatureDoesNotMatch with
//     AWS's explanation);
//   - that the request date is within Verifier.MaxSkew (15 minutes) of now,
//     either way, and for presigned requests that X-Amz-Expires (capped at
//     MaxSkew) has not elapsed (else 403 SignatureDoesNotMatch "Signature
//     expired: ..." or "Signature not yet current: ..."; see below);
//   - that the access key is known (else 403 InvalidClientTokenId);
//   - that every signed header is present and that the signature is the
//     HMAC-SHA256 chain over the canonical request recomputed here from the
//     request as received (else 403 SignatureDoesNotMatch). The comparison
//     is constant-time (hmac.Equal).
//
// Stale signatures get SignatureDoesNotMatch (403), not RequestExpired
// (400): AWS's reference pages list RequestExpired among the common errors,
// but the Query-protocol services whose answers are on record (STS, SNS)
// actually send "SignatureDoesNotMatch: Signature expired: 20261126T000000Z
// is now earlier than 20261126T000500Z (20261126T002000Z - 15 min.)" with
// 403, and that is what SDKs, tools and users recognise.
//
// The canonical request follows the SigV4 specification for services other
// than S3: the path as sent, percent-encoded a second time; the query
// parameters decoded, re-encoded per RFC 3986 and sorted; the signed
// headers lower-cased, their values trimmed, runs of spaces collapsed and
// repeated headers joined with ","; the host taken from the Host header
// (r.Host); and the hex SHA-256 of the body as payload hash. An
// X-Amz-Content-Sha256 header must match the body. UNSIGNED-PAYLOAD is
// accepted only for presigned requests without a body, since otherwise
// whoever holds the URL could substitute the Query action in the body.
// The path is not normalised (no dot-segment removal): Query APIs are
// served at "/", and the AWS SDK for Go does not normalise either.
//
// The signature binds the request to the host, the time, the region and the
// body. Host must be signed so that a captured request cannot be replayed
// against another endpoint; the time window bounds replay of a captured
// request in time. Nothing here keeps a replay cache: like AWS, keyward
// accepts a captured request again within its window, so serve it over TLS.
//
// X-Amz-Security-Token is neither required nor checked: keyward issues no
// session tokens, and an SDK that sends one still has to sign with the
// secret of a configured access key.
//
// The Caller a signature proves is the credential's account, the region of
// the credential scope (keyward serves every region) and the access key id.
//
// # Unauthenticated mode
//
// With no credentials configured (Middleware.Verifier nil) nothing is
// verified: CallerFromUnsigned takes the region from the credential scope of
// the request's signature when there is a well-formed one, since the SDKs
// sign every request even with dummy keys, and otherwise the default region;
// the account is always the default one ("000000000000").
//
// # Middleware
//
// Middleware reads the body (at most MaxBodyBytes, 1 MiB by default; more is
// answered 413 RequestEntityTooLarge), authenticates the request, puts the
// body back so the Query handler can parse it, stores the Caller in the
// request context (awsquery.WithCaller; handlers read it with
// awsquery.CallerFrom) and calls the next handler. Failures are answered
// with the Query XML error envelope (awsquery's WriteError), in the
// namespace of Middleware.API when set.
//
// # Credentials file
//
// LoadCredentialsFile reads one credential per line, three fields separated
// by spaces or tabs:
//
//	# ACCESS_KEY_ID        SECRET_ACCESS_KEY                          ACCOUNT_ID
//	AKIAKEYWARDEXAMPLE01   wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY   123456789012
//	AKIAKEYWARDEXAMPLE02   je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY   210987654321
//
// Blank lines and lines starting with "#" are ignored. An access key id is
// 1 to 128 letters, digits or underscores and appears once; a secret is
// printable ASCII without spaces; an account id is 12 digits. Several keys
// may share an account. The file must not be accessible to group or others
// (chmod 600), as ssh requires of private keys; it is refused otherwise.
//
// ValidateCredentials reports invalid or duplicate credentials however they
// were obtained (file, flags, environment); NewVerifier, which cannot fail,
// leaves invalid ones out rather than accept, say, an empty secret.
//
// # Secrets
//
// Secret access keys never appear in errors, messages or formatted values
// (Credential's String and GoString redact them); error messages quote
// only public parts of a request (access key ids, scopes, dates,
// signatures), bounded in length.
package sigv4
