package sigv4

import "keyward/awsquery"

// Caller is who a request acts as: the account, the region and the access
// key. It is awsquery's type, so that handlers read it with
// awsquery.CallerFrom.
type Caller = awsquery.Caller

// *Error is sent by awsquery's error writer as is.
var _ awsquery.APIError = (*Error)(nil)
