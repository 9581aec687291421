package awsquery

import (
	"encoding/base64"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// TimeFormat is the layout of timestamps in responses: ISO 8601 in UTC with
// milliseconds, as AWS Query services send them.
const TimeFormat = "2006-01-02T15:04:05.000Z"

// XMLWriter builds a response document. Generated encoders call it with
// element names from the model (which need no escaping); text is escaped.
// Writing never fails. The zero value is ready to use.
type XMLWriter struct {
	buf []byte
}

// Bytes returns the document written so far. It aliases the writer's
// buffer until the next write or Reset.
func (w *XMLWriter) Bytes() []byte { return w.buf }

// Len returns the number of bytes written so far.
func (w *XMLWriter) Len() int { return len(w.buf) }

// Reset discards everything written, keeping the buffer for reuse.
func (w *XMLWriter) Reset() { w.buf = w.buf[:0] }

// Start opens element name.
func (w *XMLWriter) Start(name string) {
	w.buf = append(w.buf, '<')
	w.buf = append(w.buf, name...)
	w.buf = append(w.buf, '>')
}

// StartNS opens element name with an xmlns attribute (omitted when ns is "").
func (w *XMLWriter) StartNS(name, ns string) {
	if ns == "" {
		w.Start(name)
		return
	}
	w.buf = append(w.buf, '<')
	w.buf = append(w.buf, name...)
	w.buf = append(w.buf, ` xmlns="`...)
	w.Text(ns)
	w.buf = append(w.buf, `">`...)
}

// End closes element name.
func (w *XMLWriter) End(name string) {
	w.buf = append(w.buf, '<', '/')
	w.buf = append(w.buf, name...)
	w.buf = append(w.buf, '>')
}

// String writes <name>v</name>.
func (w *XMLWriter) String(name, v string) {
	w.Start(name)
	w.Text(v)
	w.End(name)
}

// Int32 writes <name>v</name> in decimal.
func (w *XMLWriter) Int32(name string, v int32) { w.Int64(name, int64(v)) }

// Int64 writes <name>v</name> in decimal.
func (w *XMLWriter) Int64(name string, v int64) {
	w.Start(name)
	w.buf = strconv.AppendInt(w.buf, v, 10)
	w.End(name)
}

// Bool writes <name>true</name> or <name>false</name>.
func (w *XMLWriter) Bool(name string, v bool) {
	w.Start(name)
	w.buf = strconv.AppendBool(w.buf, v)
	w.End(name)
}

// Float64 writes <name>v</name> in the shortest decimal form that reads
// back as v; NaN and infinities are written "NaN", "Infinity", "-Infinity".
func (w *XMLWriter) Float64(name string, v float64) { w.float(name, v, 64) }

// Float32 is Float64 for 32-bit values.
func (w *XMLWriter) Float32(name string, v float32) { w.float(name, float64(v), 32) }

func (w *XMLWriter) float(name string, v float64, bits int) {
	w.Start(name)
	switch {
	case math.IsNaN(v):
		w.buf = append(w.buf, "NaN"...)
	case math.IsInf(v, 1):
		w.buf = append(w.buf, "Infinity"...)
	case math.IsInf(v, -1):
		w.buf = append(w.buf, "-Infinity"...)
	default:
		w.buf = strconv.AppendFloat(w.buf, v, 'f', -1, bits)
	}
	w.End(name)
}

// Time writes <name>v</name> in TimeFormat (UTC, milliseconds).
func (w *XMLWriter) Time(name string, v time.Time) {
	w.Start(name)
	w.buf = v.UTC().AppendFormat(w.buf, TimeFormat)
	w.End(name)
}

// Blob writes <name>v</name> in standard base64.
func (w *XMLWriter) Blob(name string, v []byte) {
	w.Start(name)
	w.buf = base64.StdEncoding.AppendEncode(w.buf, v)
	w.End(name)
}

// Text appends s escaped as XML character data (also safe in a
// double-quoted attribute). Characters XML 1.0 cannot carry (most control
// characters, invalid UTF-8) become U+FFFD; carriage returns are written as
// &#xD; so that they survive parsing.
func (w *XMLWriter) Text(s string) {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < utf8.RuneSelf && c != '<' && c != '>' && c != '&' && c != '"' && c != '\'' {
			i++
			continue
		}
		var esc string
		width := 1
		switch c {
		case '<':
			esc = "&lt;"
		case '>':
			esc = "&gt;"
		case '&':
			esc = "&amp;"
		case '"':
			esc = "&#34;"
		case '\'':
			esc = "&#39;"
		case '\t':
			esc = "&#x9;"
		case '\n':
			esc = "&#xA;"
		case '\r':
			esc = "&#xD;"
		default:
			if c < 0x20 {
				esc = "\uFFFD"
				break
			}
			r, n := utf8.DecodeRuneInString(s[i:])
			width = n
			if (r == utf8.RuneError && n == 1) || !isXMLChar(r) {
				esc = "\uFFFD"
				break
			}
			i += n
			continue
		}
		w.buf = append(w.buf, s[start:i]...)
		w.buf = append(w.buf, esc...)
		i += width
		start = i
	}
	w.buf = append(w.buf, s[start:]...)
}

// isXMLChar reports whether r is allowed in an XML 1.0 document.
func isXMLChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}
