// Package awsquery is the server side of the AWS Query protocol: the wire
// format ElastiCache (and IAM, SNS, RDS...) speaks. A request is a
// form-encoded list of parameters (Action, Version and the operation's input
// flattened into dotted names such as Tags.Tag.1.Key); a response is an XML
// document <ActionResponse><ActionResult>…</ActionResult>
// <ResponseMetadata>…</ResponseMetadata></ActionResponse>, or an
// <ErrorResponse> with the error's HTTP status.
//
// The package is hand-written and model-agnostic. Code generated from a
// service model (package ecapi for ElastiCache) supplies one OperationFunc per
// action; those decode their input with a Decoder and encode their output
// with an XMLWriter, both of which live here. NewHandler does everything
// around them: body limits, form parsing, Action and Version checks, request
// ids, error documents, panic recovery, logging and metrics hooks.
//
// Errors: anything that implements APIError reaches the client as is (code,
// message, status, fault). Any other error, and any panic, becomes an opaque
// InternalFailure (HTTP 500) and is logged with the request id, so internal
// details never leak.
//
// Request-scoped values: RequestID(ctx) gives the id of the request being
// served (also sent as the x-amzn-RequestId header and in the response
// body); CallerFrom(ctx) gives the authenticated caller that the SigV4
// middleware put there with WithCaller.
package awsquery
