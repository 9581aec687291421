package front

import (
	"bytes"
	"io"
	"strconv"
	"sync"
	"time"

	"keyward/iamauth"
)

const (
	// relayBuf is the size of a connection's read buffers (each way).
	relayBuf = 64 << 10
	// maxLogin bounds a pending AUTH or HELLO the relay holds in full:
	// maxAuthArgs arguments of at most maxAuthArg bytes, with headers.
	maxLogin = maxAuthArgs*(maxAuthArg+16) + 16
	// maxHeader is what redis-server accepts as an inline command or an
	// array or bulk header before it refuses the client (PROTO_INLINE_MAX_SIZE).
	maxHeader = 64 << 10
)

// relay is the client-to-node direction of one connection. It reads the
// client's bytes in large chunks and writes each chunk to the node in one
// write, as read; it only finds where commands begin (array and bulk
// headers, which it does not copy), so that it can rewrite AUTH and HELLO
// wherever they come: a client may log in, or log in again with a fresh
// token to extend its connection's 12 hours (as ElastiCache documents),
// at any point of a connection.
type relay struct {
	s   *Server
	src io.Reader
	dst io.Writer

	buf        []byte
	start, end int // buf[start:end] is read but not yet forwarded

	skip int  // bytes of the current bulk string (with its CRLF) still to pass
	left int  // bulk strings still to come in the current command
	raw  bool // input redis-server refuses was seen: pass the rest as it is

	pooled *[relayBuf]byte // buf's first array, back to bufs at the end

	args   [][]byte
	out    []byte
	timer  *time.Timer
	expire func()
}

func newRelay(s *Server, src io.Reader, dst io.Writer, expire func()) *relay {
	r := &relay{s: s, src: src, dst: dst, expire: expire}
	r.pooled = getBuf()
	r.buf = r.pooled[:]
	return r
}

// release gives the relay's buffer back once the connection is over.
func (r *relay) release() {
	if r.pooled != nil {
		putBuf(r.pooled)
		r.pooled, r.buf = nil, nil
	}
}

// bufs holds the read buffers of ended connections for the next ones: a
// front's connections come and go (logins, revocations), and allocating
// two zeroed 64 KiB buffers for each made most of the front's garbage.
var bufs = sync.Pool{New: func() any { return new([relayBuf]byte) }}

func getBuf() *[relayBuf]byte  { return bufs.Get().(*[relayBuf]byte) }
func putBuf(b *[relayBuf]byte) { bufs.Put(b) }

// run relays until either side fails.
func (r *relay) run() error {
	for {
		if r.end == len(r.buf) {
			r.makeRoom()
		}
		n, err := r.src.Read(r.buf[r.end:])
		if n > 0 {
			r.end += n
			if werr := r.forward(); werr != nil {
				return werr
			}
		}
		if err != nil {
			return err
		}
	}
}

// makeRoom makes space after buf[start:end], the beginning of a command
// the relay must see whole (a login) or the header it is in the middle of.
func (r *relay) makeRoom() {
	if r.start > 0 {
		r.end = copy(r.buf, r.buf[r.start:r.end])
		r.start = 0
		return
	}
	if len(r.buf) < maxLogin {
		r.buf = append(r.buf, make([]byte, len(r.buf))...)[:min(2*len(r.buf), maxLogin)]
		return
	}
	// Longer than any login or header: nothing to look at in it.
	r.raw = true
	r.dst.Write(r.buf[:r.end])
	r.end = 0
}

// forward writes to the node what buf[start:end] holds, with verified IAM
// tokens replaced, keeping back only an incomplete header or login.
func (r *relay) forward() error {
	p, fwd := r.start, r.start
	for p < r.end {
		if r.raw {
			p = r.end
			break
		}
		if r.skip > 0 {
			k := min(r.skip, r.end-p)
			p += k
			r.skip -= k
			continue
		}
		if r.left > 0 {
			l, hn, ok, bad := header(r.buf[p:r.end], '$')
			if !ok {
				break // incomplete
			}
			if bad || l < 0 {
				r.raw = true
				continue
			}
			p += hn
			r.skip, r.left = l+2, r.left-1
			continue
		}
		n, rewritten := r.command(p)
		if n == 0 {
			break // incomplete
		}
		if rewritten != nil {
			r.out = append(append(r.out[:0], r.buf[fwd:p]...), rewritten...)
			if _, err := r.dst.Write(r.out); err != nil {
				return err
			}
			fwd = p + n
		}
		p += n
	}
	if p > fwd {
		if _, err := r.dst.Write(r.buf[fwd:p]); err != nil {
			return err
		}
	}
	r.start = p
	if r.start == r.end {
		r.start, r.end = 0, 0
	}
	return nil
}

// command looks at the command that starts at buf[p]. It returns how many
// bytes of it are decided (0: incomplete, wait for more) and, for a login
// it rewrote, what to send instead of those bytes. Other commands are
// decided after their first bulk header; the rest streams (skip, left).
func (r *relay) command(p int) (int, []byte) {
	b := r.buf[p:r.end]
	if b[0] != '*' {
		return r.inline(b)
	}
	n, an, ok, bad := header(b, '*')
	if !ok {
		return 0, nil
	}
	if bad {
		r.raw = true
		return len(b), nil
	}
	if n <= 0 {
		return an, nil // an empty command (also "*-1"): the node skips it
	}
	l, hn, ok, bad := header(b[an:], '$')
	if !ok {
		return 0, nil
	}
	if bad || l < 0 {
		r.raw = true
		return len(b), nil
	}
	if (l == 4 || l == 5) && n <= maxAuthArgs {
		name := an + hn
		if len(b) < name+l {
			return 0, nil
		}
		if isLogin(b[name : name+l]) {
			if size, complete := r.loginArgs(b, n); !complete {
				return 0, nil
			} else if size > 0 {
				r.login()
				return size, appendArgs(nil, r.args)
			}
			// An argument longer than any token: stream it like the rest.
		}
	}
	r.skip, r.left = l+2, n-1
	return an + hn, nil
}

// inline handles an inline command (a line of words, as typed in telnet).
func (r *relay) inline(b []byte) (int, []byte) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		if len(b) > maxHeader {
			r.raw = true // redis-server refuses it
			return len(b), nil
		}
		return 0, nil
	}
	line := b[:i+1]
	fields := bytes.Fields(line)
	if len(fields) == 0 || len(fields) > maxAuthArgs || !isLogin(fields[0]) {
		return len(line), nil
	}
	r.args = fields
	r.login()
	return len(line), appendArgs(nil, r.args)
}

// loginArgs reads the n bulk strings of the AUTH or HELLO at the start of
// b into r.args. complete is false if b does not hold it all yet; size is
// its length, 0 if an argument is longer than any login's.
func (r *relay) loginArgs(b []byte, n int) (size int, complete bool) {
	_, p, _, _ := header(b, '*')
	r.args = r.args[:0]
	for range n {
		l, hn, ok, bad := header(b[p:], '$')
		if !ok {
			return 0, false
		}
		if bad || l < 0 || l > maxAuthArg {
			return 0, true
		}
		if len(b) < p+hn+l+2 {
			return 0, false
		}
		r.args = append(r.args, b[p+hn:p+hn+l])
		p += hn + l + 2
	}
	return p, true
}

func isLogin(name []byte) bool {
	return bytes.EqualFold(name, []byte("AUTH")) || bytes.EqualFold(name, []byte("HELLO"))
}

// header parses a "<kind><n>\r\n" line at the start of b: n and the line's
// length. ok is false if the line is not complete yet; bad is set if it is
// not such a line, which redis-server refuses (closing the connection).
func header(b []byte, kind byte) (n, size int, ok, bad bool) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		if len(b) > maxHeader {
			return 0, len(b), true, true
		}
		return 0, 0, false, false
	}
	v, good := parseLen(b[:i+1])
	return v, i + 1, true, !good || b[0] != kind
}

// login replaces a valid IAM token among r.args (AUTH user token, or HELLO
// ver ... AUTH user token ...) with the user's internal secret.
func (r *relay) login() {
	user, pass := -1, -1
	switch {
	case bytes.EqualFold(r.args[0], []byte("AUTH")):
		if len(r.args) == 3 {
			user, pass = 1, 2
		}
	default: // HELLO protover [AUTH user pass] [SETNAME name]
		for i := 2; i < len(r.args); {
			switch {
			case bytes.EqualFold(r.args[i], []byte("AUTH")) && i+2 < len(r.args):
				user, pass = i+1, i+2
				i += 3
			case bytes.EqualFold(r.args[i], []byte("SETNAME")) && i+1 < len(r.args):
				i += 2
			default:
				i = len(r.args)
			}
		}
	}
	if pass < 0 || !iamauth.LooksLikeToken(string(r.args[pass])) {
		return
	}
	v := r.s.Verifier
	if v == nil {
		return
	}
	name := string(r.args[user])
	caller, err := v.Verify(name, string(r.args[pass]), r.s.Resource)
	if err != nil {
		// Relayed as sent: the node refuses it with its usual WRONGPASS.
		r.s.logger().Info("front: IAM token refused", "cache", r.s.Resource.Name, "user", name, "reason", err.Error())
		return
	}
	r.args[pass] = []byte(Secret(r.s.Key, r.s.CacheID, name))
	r.s.logger().Debug("front: IAM login", "cache", r.s.Resource.Name, "user", name, "key", caller.AccessKeyID)
	if r.timer == nil {
		r.timer = time.AfterFunc(r.s.maxAge(), r.expire)
	} else {
		r.timer.Reset(r.s.maxAge())
	}
}

// appendArgs appends args as a RESP array.
func appendArgs(b []byte, args [][]byte) []byte {
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(len(args)), 10)
	b = append(b, "\r\n"...)
	for _, a := range args {
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(len(a)), 10)
		b = append(b, "\r\n"...)
		b = append(b, a...)
		b = append(b, "\r\n"...)
	}
	return b
}

// parseLen parses the length in a "*<n>\r\n" or "$<n>\r\n" line.
func parseLen(line []byte) (int, bool) {
	if len(line) < 4 || line[len(line)-2] != '\r' {
		return 0, false
	}
	digits := line[1 : len(line)-2]
	neg := false
	if len(digits) > 0 && digits[0] == '-' {
		neg, digits = true, digits[1:]
	}
	if len(digits) == 0 || len(digits) > 10 {
		return 0, false
	}
	n := 0
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}
