package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// The no-op server is the floor of the CPU a call can cost through
// net/http: it decodes the AWS Query form and writes a canned, valid answer
// of the same shape and size as keyward's, and does nothing else (no
// signature check, no validation, no store, no reconciler). The benchmark
// runs it as "keyward-bench noop --listen ADDR", a child process like the
// other targets, so that its CPU is measured the same way.

// runNoop serves until the process is killed.
func runNoop(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("keyward-bench noop", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:0", "address to serve on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.HandlerFunc(noopHandler), ReadHeaderTimeout: 10 * time.Second}
	err = srv.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

const noopNS = "http://elasticache.amazonaws.com/doc/2015-02-02/"

func noopHandler(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/healthz" {
		w.WriteHeader(http.StatusOK)
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	action := r.PostForm.Get("Action")
	id := r.PostForm.Get("UserId")
	name := r.PostForm.Get("UserName")
	if name == "" {
		name = id
	}
	var body string
	switch action {
	case "CreateUser":
		body = noopUser(id, name, "active")
	case "DeleteUser":
		body = noopUser(id, name, "deleting")
	case "DescribeUsers":
		body = "<Users><member>" + noopUser(id, name, "active") + "</member></Users>"
	default:
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `<ErrorResponse xmlns="%s"><Error><Type>Sender</Type><Code>InvalidAction</Code><Message>noop: %s</Message></Error><RequestId>%s</RequestId></ErrorResponse>`,
			noopNS, xmlEscape(action), requestID())
		return
	}
	rid := requestID()
	var b strings.Builder
	b.Grow(700)
	b.WriteString("<" + action + `Response xmlns="` + noopNS + `"><` + action + "Result>")
	b.WriteString(body)
	b.WriteString("</" + action + "Result><ResponseMetadata><RequestId>" + rid + "</RequestId></ResponseMetadata></" + action + "Response>")
	h := w.Header()
	h.Set("Content-Type", "text/xml")
	h.Set("X-Amzn-Requestid", rid)
	io.WriteString(w, b.String())
}

// noopUser is the User element keyward answers for the benchmark's users.
func noopUser(id, name, status string) string {
	id, name = xmlEscape(id), xmlEscape(name)
	return "<UserId>" + id + "</UserId><UserName>" + name + "</UserName><Status>" + status +
		"</Status><Engine>redis</Engine><MinimumEngineVersion>6.0</MinimumEngineVersion><AccessString>on ~* +@all</AccessString>" +
		"<UserGroupIds></UserGroupIds><Authentication><Type>password</Type><PasswordCount>1</PasswordCount></Authentication>" +
		"<ARN>arn:aws:elasticache:us-east-1:000000000000:user:" + id + "</ARN>"
}

func xmlEscape(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

// requestID is a random UUID-shaped id, as keyward's.
func requestID() string {
	var u [16]byte
	rand.Read(u[:])
	var s [36]byte
	hex.Encode(s[0:8], u[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], u[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], u[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], u[8:10])
	s[23] = '-'
	hex.Encode(s[24:], u[10:])
	return string(s[:])
}
