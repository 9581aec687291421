package mcfront

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
)

// Protocol constants (memcached's binary protocol).
const (
	hdrLen      = 24
	magicReq    = 0x80
	magicRes    = 0x81
	opNoop      = 0x0a
	opConfigGet = 0x60 // ElastiCache's "config get"
	// maxLocal bounds the body of a binary config request read in full.
	maxLocal = 1024
	// maxLine bounds a command line held until its end arrives; a longer
	// one (a get of many keys) is relayed as it comes and not examined.
	maxLine = 4096
	bufSize = 16 << 10
)

const (
	protoUnknown int32 = iota
	protoText
	protoBinary
	protoRaw // a binary stream lost its framing: relayed as it is
)

var errReplies = errors.New("mcfront: the node's side of the connection ended")

// relay is one client connection and its backend connection.
type relay struct {
	client, backend net.Conn
	discovery       func() (Discovery, error)
	proto           atomic.Int32
	done            chan struct{} // closed when the reply side ends

	// Request side (run's goroutine).
	skip     int  // bytes of a data block or binary body still to forward
	longLine bool // inside a long line that is relayed unexamined
	held     []byte
	work     []byte
	sent     bool // bytes forwarded since the connection opened or the last barrier

	// Reply side (replies' goroutine).
	carry []byte // bytes not yet written: a possible barrier reply's start
	rskip int    // binary: body bytes of the current reply still to copy

	wmu     sync.Mutex // client writes
	mu      sync.Mutex
	pending *barrier
}

// barrier is a request sent to the node so that an answer the front makes
// comes after the replies to what the client sent before.
type barrier struct {
	request []byte
	marker  []byte // text: " O<token>\r\n" ends its reply line
	opaque  uint32 // binary: the NOOP reply's opaque
	answer  []byte
	found   chan struct{}
}

func newRelay(client, backend net.Conn, d func() (Discovery, error)) *relay {
	return &relay{client: client, backend: backend, discovery: d, done: make(chan struct{})}
}

func (r *relay) run() {
	go r.replies()
	buf := make([]byte, bufSize)
	for {
		n, err := r.client.Read(buf)
		if n > 0 {
			if r.feed(buf[:n]) != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	// The client is gone: the node sees the end of its input, closes, and
	// the reply side ends.
	if tc, ok := r.backend.(*net.TCPConn); ok {
		tc.CloseWrite()
	} else {
		r.backend.Close()
	}
	<-r.done
}

// feed examines and forwards one read of the client's bytes.
func (r *relay) feed(p []byte) error {
	data := p
	if len(r.held) > 0 {
		r.work = append(append(r.work[:0], r.held...), p...)
		data, r.held = r.work, r.held[:0]
	}
	from, i := 0, 0
scan:
	for i < len(data) {
		if r.skip > 0 {
			k := min(r.skip, len(data)-i)
			i, r.skip = i+k, r.skip-k
			continue
		}
		switch r.proto.Load() {
		case protoUnknown:
			if data[i] == magicReq {
				r.proto.Store(protoBinary)
			} else {
				r.proto.Store(protoText)
			}
		case protoRaw:
			i = len(data)
		case protoBinary:
			if len(data)-i < hdrLen {
				break scan
			}
			h := data[i : i+hdrLen]
			if h[0] != magicReq {
				r.proto.Store(protoRaw)
				continue
			}
			body := int(binary.BigEndian.Uint32(h[8:12]))
			if h[1] == opConfigGet && body <= maxLocal {
				if len(data)-i < hdrLen+body {
					break scan
				}
				frame := data[i : i+hdrLen+body]
				if isClusterKey(frame) {
					if err := r.local(data[from:i], r.binaryAnswer(frame), true); err != nil {
						return err
					}
					i += len(frame)
					from = i
					continue
				}
			}
			i, r.skip = i+hdrLen, body
		case protoText:
			nl := bytes.IndexByte(data[i:], '\n')
			if r.longLine {
				if nl < 0 {
					i = len(data)
					continue
				}
				i, r.longLine = i+nl+1, false
				continue
			}
			if nl < 0 {
				if len(data)-i > maxLine {
					i, r.longLine = len(data), true
					continue
				}
				break scan
			}
			line := data[i : i+nl+1]
			answer, skip := r.textCommand(line)
			if answer != nil {
				if err := r.local(data[from:i], answer, false); err != nil {
					return err
				}
				i += len(line)
				from = i
				continue
			}
			i, r.skip = i+len(line), skip
		}
	}
	if i < len(data) {
		r.held = append(r.held, data[i:]...)
	}
	return r.forward(data[from:i])
}

func (r *relay) forward(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	r.sent = true
	_, err := r.backend.Write(p)
	return err
}

// local answers a command the front serves, after forwarding prefix (the
// client's bytes before it): at once when no reply can be outstanding,
// otherwise in the place of a barrier's reply.
func (r *relay) local(prefix, answer []byte, bin bool) error {
	if err := r.forward(prefix); err != nil {
		return err
	}
	if !r.sent {
		return r.write(answer)
	}
	b := newBarrier(bin, answer)
	r.mu.Lock()
	r.pending = b
	r.mu.Unlock()
	if _, err := r.backend.Write(b.request); err != nil {
		return err
	}
	select {
	case <-b.found:
	case <-r.done:
		return errReplies
	}
	r.sent = false
	return nil
}

func newBarrier(bin bool, answer []byte) *barrier {
	var tok [12]byte
	rand.Read(tok[:])
	b := &barrier{answer: answer, found: make(chan struct{})}
	if bin {
		b.opaque = binary.BigEndian.Uint32(tok[:4])
		b.request = make([]byte, hdrLen)
		b.request[0], b.request[1] = magicReq, opNoop
		binary.BigEndian.PutUint32(b.request[12:16], b.opaque)
		return b
	}
	t := hex.EncodeToString(tok[:])
	b.request = []byte("mg keyward:barrier O" + t + "\r\n")
	b.marker = []byte(" O" + t + "\r\n")
	return b
}

func (r *relay) write(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	r.wmu.Lock()
	defer r.wmu.Unlock()
	_, err := r.client.Write(p)
	return err
}

// replies copies the node's replies to the client, putting each barrier's
// answer in the place of its reply.
func (r *relay) replies() {
	defer close(r.done)
	defer r.client.Close()
	buf := make([]byte, bufSize)
	for {
		n, err := r.backend.Read(buf)
		if n > 0 {
			var werr error
			if r.proto.Load() == protoBinary {
				werr = r.binaryReplies(buf[:n])
			} else {
				werr = r.textReplies(buf[:n])
			}
			if werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (r *relay) barrier() *barrier {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pending
}

// release writes b's answer and wakes the request side.
func (r *relay) release(b *barrier) error {
	r.mu.Lock()
	r.pending = nil
	r.mu.Unlock()
	err := r.write(b.answer)
	close(b.found)
	return err
}

func (r *relay) textReplies(p []byte) error {
	b := r.barrier()
	if b == nil && len(r.carry) == 0 {
		return r.write(p)
	}
	data := append(r.carry, p...)
	r.carry = nil
	if b == nil {
		return r.write(data)
	}
	// The reply line is "EN O<token>\r\n" or "HD O<token>\r\n".
	if at := bytes.Index(data, b.marker); at >= 2 {
		if err := r.write(data[:at-2]); err != nil {
			return err
		}
		if err := r.release(b); err != nil {
			return err
		}
		return r.write(data[at+len(b.marker):])
	}
	// Hold back what could be the start of the barrier's reply line.
	keep := min(len(data), len(b.marker)+1)
	r.carry = append([]byte(nil), data[len(data)-keep:]...)
	return r.write(data[:len(data)-keep])
}

// binaryReplies copies binary replies frame by frame. An incomplete header
// is held back until it is whole, so that a barrier's reply is never
// partly written.
func (r *relay) binaryReplies(p []byte) error {
	data := p
	if len(r.carry) > 0 {
		data = append(r.carry, p...)
		r.carry = nil
	}
	from, i := 0, 0
	for i < len(data) {
		if r.rskip > 0 {
			k := min(r.rskip, len(data)-i)
			i, r.rskip = i+k, r.rskip-k
			continue
		}
		if len(data)-i < hdrLen {
			r.carry = append([]byte(nil), data[i:]...)
			break
		}
		h := data[i : i+hdrLen]
		body := int(binary.BigEndian.Uint32(h[8:12]))
		if b := r.barrier(); b != nil && h[0] == magicRes && h[1] == opNoop && body == 0 &&
			binary.BigEndian.Uint32(h[12:16]) == b.opaque {
			if err := r.write(data[from:i]); err != nil {
				return err
			}
			if err := r.release(b); err != nil {
				return err
			}
			i += hdrLen
			from = i
			continue
		}
		i, r.rskip = i+hdrLen, body
	}
	return r.write(data[from:i])
}

// textCommand examines one ASCII command line: it returns the answer of a
// command the front serves, or the size of the data block that follows (a
// storage command's, with its "\r\n").
func (r *relay) textCommand(line []byte) (answer []byte, skip int) {
	var tok [8][]byte
	n := tokens(line, tok[:])
	if n == 0 {
		return nil, 0
	}
	cmd := string(tok[0]) // no allocation: compared only
	switch {
	case cmd == "config" && n == 3 && string(tok[1]) == "get" && string(tok[2]) == "cluster":
		return r.textAnswer("CONFIG cluster"), 0
	case cmd == "get" && n == 2 && string(tok[1]) == "AmazonElastiCache:cluster":
		return r.textAnswer("VALUE AmazonElastiCache:cluster"), 0
	case (cmd == "set" || cmd == "add" || cmd == "replace" || cmd == "append" || cmd == "prepend") && (n == 5 || n == 6),
		cmd == "cas" && (n == 6 || n == 7):
		return nil, dataLen(tok[4])
	case cmd == "ms" && n >= 3:
		return nil, dataLen(tok[2])
	}
	return nil, 0
}

func dataLen(b []byte) int {
	v, err := strconv.Atoi(string(b))
	if err != nil || v < 0 {
		return 0 // memcached refuses the line and reads no data block
	}
	return v + 2
}

// tokens splits a command line at spaces, as memcached does, into tok; it
// returns the number of tokens (counted past len(tok), not stored).
func tokens(line []byte, tok [][]byte) int {
	line = bytes.TrimSuffix(line, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	n := 0
	for len(line) > 0 {
		for len(line) > 0 && line[0] == ' ' {
			line = line[1:]
		}
		if len(line) == 0 {
			break
		}
		end := bytes.IndexByte(line, ' ')
		if end < 0 {
			end = len(line)
		}
		if n < len(tok) {
			tok[n] = line[:end]
		}
		n++
		line = line[end:]
	}
	return n
}

func (r *relay) textAnswer(header string) []byte {
	d, err := r.discovery()
	if err != nil {
		return []byte("SERVER_ERROR cluster configuration unavailable\r\n")
	}
	body := d.Body()
	out := make([]byte, 0, len(header)+len(body)+32)
	out = append(out, header...)
	out = append(out, " 0 "...)
	out = strconv.AppendInt(out, int64(len(body)), 10)
	out = append(out, "\r\n"...)
	out = append(out, body...)
	return append(out, "\r\nEND\r\n"...)
}

// isClusterKey reports whether a binary request frame's key is "cluster".
func isClusterKey(frame []byte) bool {
	keyLen, extLen := int(binary.BigEndian.Uint16(frame[2:4])), int(frame[4])
	if hdrLen+extLen+keyLen > len(frame) {
		return false
	}
	return string(frame[hdrLen+extLen:hdrLen+extLen+keyLen]) == "cluster"
}

// binaryAnswer is the reply to a binary config get: 4 bytes of flags, then
// the configuration; or status 0x84 (internal error) without it.
func (r *relay) binaryAnswer(req []byte) []byte {
	var body []byte
	status := uint16(0)
	if d, err := r.discovery(); err == nil {
		body = d.Body()
	} else {
		status = 0x84
	}
	ext := 4
	if status != 0 {
		ext = 0
	}
	out := make([]byte, hdrLen+ext+len(body))
	out[0], out[1], out[4] = magicRes, opConfigGet, byte(ext)
	binary.BigEndian.PutUint16(out[6:8], status)
	binary.BigEndian.PutUint32(out[8:12], uint32(ext+len(body)))
	copy(out[12:16], req[12:16]) // opaque
	copy(out[hdrLen+ext:], body)
	return out
}
