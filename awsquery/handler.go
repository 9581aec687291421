package awsquery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// Options configures a handler made by NewHandler.
type Options struct {
	// Logger receives internal failures (with the request id, the real
	// error and, for panics, the stack). Nil means slog.Default().
	Logger *slog.Logger
	// MaxBodyBytes limits the request body; larger bodies are refused with
	// RequestEntityTooLarge (413). 0 means DefaultMaxBodyBytes (1 MiB).
	MaxBodyBytes int64
	// Observe, if set, is called once per request after the response is
	// written, with the action (the canonical operation name, or "" when
	// the request named none or an unknown one), the HTTP status, the error
	// code ("" on success) and the time taken. It is meant for metrics.
	Observe func(action string, status int, code string, d time.Duration)
}

// OperationFunc serves one action. It decodes the operation's input from d,
// calls the service and, on success, writes the <ActionResult> element to w
// (nothing for an operation without output). Generated code provides one per
// operation; on error, whatever it wrote is discarded.
type OperationFunc func(ctx context.Context, d *Decoder, w *XMLWriter) error

// API describes one Query API.
type API struct {
	// Name is the service's name in messages, e.g. "AmazonElastiCache".
	Name string
	// Version is the only accepted value of the Version parameter,
	// e.g. "2015-02-02".
	Version string
	// Namespace is the xmlns of every response document, e.g.
	// "http://elasticache.amazonaws.com/doc/2015-02-02/".
	Namespace string
}

// NewHandler returns the http.Handler of api whose actions are ops.
//
// It accepts GET (parameters in the query string) and POST (form-encoded
// body, merged with the query string); see ParseForm. It requires Action
// (MissingAction), a known action (InvalidAction) and Version
// (MissingParameter, or NoSuchVersion for a wrong one), then runs the
// operation with a context carrying the request id (RequestID). Every
// response carries the id in the x-amzn-RequestId header and in its body.
// The id is fresh (NewRequestID) unless a middleware already put one in the
// request's context with WithRequestID, so that its logs and the response
// agree.
//
// An error that is (or wraps) an APIError is sent as is; any other error
// and any panic are logged and sent as InternalFailure (500) without detail.
func NewHandler(api API, ops map[string]OperationFunc, opts Options) http.Handler {
	h := &handler{api: api, ops: ops, opts: opts, log: opts.Logger}
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.opts.MaxBodyBytes <= 0 {
		h.opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	return h
}

type handler struct {
	api  API
	ops  map[string]OperationFunc
	opts Options
	log  *slog.Logger
}

var writerPool = sync.Pool{New: func() any { return new(XMLWriter) }}

func getWriter() *XMLWriter { return writerPool.Get().(*XMLWriter) }

func putWriter(w *XMLWriter) {
	if cap(w.buf) > 4<<20 {
		return // do not keep huge buffers alive
	}
	w.Reset()
	writerPool.Put(w)
}

func (h *handler) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	start := time.Now()
	ctx := r.Context()
	id := RequestID(ctx)
	if id == "" {
		id = NewRequestID()
		ctx = WithRequestID(ctx, id)
	}
	xw := getWriter()
	defer putWriter(xw)

	action, err := h.serve(ctx, r, xw, id)
	status, code := http.StatusOK, ""
	if err != nil {
		xw.Reset()
		status, code = h.writeErrorDoc(ctx, xw, action, err, id)
		if status == http.StatusMethodNotAllowed {
			rw.Header().Set("Allow", "GET, POST")
		}
	}
	writeXML(rw, status, xw.Bytes(), id)
	if h.opts.Observe != nil {
		h.opts.Observe(action, status, code, time.Since(start))
	}
}

// serve runs the request up to a complete success document in xw. It
// returns the canonical action name once known.
func (h *handler) serve(ctx context.Context, r *http.Request, xw *XMLWriter, id string) (string, error) {
	values, err := ParseForm(r, h.opts.MaxBodyBytes)
	if err != nil {
		return "", err
	}
	d := NewDecoder(values)
	name, ok := d.Value("Action")
	if !ok || name == "" {
		return "", MissingAction()
	}
	op, ok := h.ops[name]
	if !ok {
		return "", InvalidAction(name)
	}
	version, ok := d.Value("Version")
	if !ok || version == "" {
		return name, MissingParameter("Version")
	}
	if version != h.api.Version {
		return name, NoSuchVersion(version, h.api.Name)
	}
	if err := CheckText(values); err != nil {
		return name, err
	}
	xw.StartNS(name+"Response", h.api.Namespace)
	if err := call(ctx, op, d, xw); err != nil {
		return name, err
	}
	xw.Start("ResponseMetadata")
	xw.String("RequestId", id)
	xw.End("ResponseMetadata")
	xw.End(name + "Response")
	return name, nil
}

// panicError carries a recovered panic to the logger.
type panicError struct {
	value any
	stack []byte
}

func (p *panicError) Error() string { return fmt.Sprintf("panic: %v", p.value) }

func call(ctx context.Context, op OperationFunc, d *Decoder, xw *XMLWriter) (err error) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			err = &panicError{value: p, stack: debug.Stack()}
		}
	}()
	return op(ctx, d, xw)
}

// apiError extracts what the client may see of err. ok is false when err
// is not an APIError, or is one whose methods panic (a nil pointer...).
func apiError(err error) (code, msg, fault string, status int, ok bool) {
	var ae APIError
	if !errors.As(err, &ae) {
		return "", "", "", 0, false
	}
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	code, msg, fault, status = ae.ErrorCode(), ae.ErrorMessage(), ae.ErrorFault(), ae.HTTPStatus()
	if code == "" {
		return "", "", "", 0, false
	}
	if fault != FaultSender && fault != FaultReceiver {
		fault = FaultSender
		if status >= 500 {
			fault = FaultReceiver
		}
	}
	if status < 400 || status > 599 {
		status = http.StatusBadRequest
		if fault == FaultReceiver {
			status = http.StatusInternalServerError
		}
	}
	return code, msg, fault, status, true
}

// writeErrorDoc writes the ErrorResponse for err into xw, logging internal
// failures, and returns the status and code sent.
func (h *handler) writeErrorDoc(ctx context.Context, xw *XMLWriter, action string, err error, id string) (int, string) {
	code, msg, fault, status, ok := apiError(err)
	if !ok {
		attrs := []any{"request_id", id, "action", action, "error", err.Error()}
		var pe *panicError
		if errors.As(err, &pe) {
			attrs = append(attrs, "stack", string(pe.stack))
		}
		h.log.ErrorContext(ctx, "awsquery: internal failure", attrs...)
		ie := InternalFailure()
		code, msg, fault, status = ie.Code, ie.Message, ie.ErrorFault(), ie.Status
	}
	writeErrorResponse(xw, h.api.Namespace, code, msg, fault, id)
	return status, code
}

// maxMessageBytes bounds an error message, whatever produced it: values
// are quoted bounded where messages are made, and this is the backstop.
const maxMessageBytes = 2048

func writeErrorResponse(xw *XMLWriter, ns, code, msg, fault, id string) {
	if len(msg) > maxMessageBytes {
		n := maxMessageBytes
		for n > 0 && !utf8.RuneStart(msg[n]) {
			n--
		}
		msg = msg[:n] + "..."
	}
	xw.StartNS("ErrorResponse", ns)
	xw.Start("Error")
	xw.String("Type", fault)
	xw.String("Code", code)
	xw.String("Message", msg)
	xw.End("Error")
	xw.String("RequestId", id)
	xw.End("ErrorResponse")
}

func writeXML(rw http.ResponseWriter, status int, body []byte, id string) {
	// What Header.Set does, with the keys already canonical (the id's goes
	// out as X-Amzn-Requestid either way) and the three values in one
	// allocation instead of one each plus the key's canonicalization.
	v := make([]string, 3)
	v[0], v[1], v[2] = "text/xml", strconv.Itoa(len(body)), id
	hdr := rw.Header()
	hdr["Content-Type"] = v[0:1:1]
	hdr["Content-Length"] = v[1:2:2]
	hdr["X-Amzn-Requestid"] = v[2:3:3]
	rw.WriteHeader(status)
	_, _ = rw.Write(body)
}

// WriteError writes err as a Query <ErrorResponse> in the api's namespace,
// with the error's status, and the x-amzn-RequestId header. A middleware (such
// as SigV4 verification) uses it to answer before the handler runs. An err
// that is not an APIError is sent as InternalFailure without detail (the
// caller logs it). r may be nil; it is accepted for symmetry with handlers.
func (a API) WriteError(rw http.ResponseWriter, r *http.Request, err error, requestID string) {
	_ = r
	code, msg, fault, status, ok := apiError(err)
	if !ok {
		ie := InternalFailure()
		code, msg, fault, status = ie.Code, ie.Message, ie.ErrorFault(), ie.Status
	}
	xw := getWriter()
	defer putWriter(xw)
	writeErrorResponse(xw, a.Namespace, code, msg, fault, requestID)
	writeXML(rw, status, xw.Bytes(), requestID)
}

// WriteError is API.WriteError for an API without namespace: the
// ErrorResponse carries no xmlns attribute (clients do not need one). Prefer
// the API's own WriteError (ecapi.API.WriteError) where it is at hand.
func WriteError(rw http.ResponseWriter, r *http.Request, err error, requestID string) {
	API{}.WriteError(rw, r, err, requestID)
}

// WriteResult writes a success document for action: <actionResponse
// xmlns="…">, whatever result writes (the <actionResult> element, or nothing
// for an operation without output), the ResponseMetadata with requestID,
// with status 200.
func (a API) WriteResult(rw http.ResponseWriter, action, requestID string, result func(*XMLWriter)) {
	xw := getWriter()
	defer putWriter(xw)
	xw.StartNS(action+"Response", a.Namespace)
	if result != nil {
		result(xw)
	}
	xw.Start("ResponseMetadata")
	xw.String("RequestId", requestID)
	xw.End("ResponseMetadata")
	xw.End(action + "Response")
	writeXML(rw, http.StatusOK, xw.Bytes(), requestID)
}
