package ecapi_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"keyward/awsquery"
	"keyward/ecapi"
)

type benchService struct{ ecapi.UnimplementedService }

func (benchService) CreateUser(ctx context.Context, in *ecapi.CreateUserMessage) (*ecapi.User, error) {
	return &ecapi.User{
		UserId: in.UserId, UserName: in.UserName, Status: aws.String("active"), Engine: in.Engine,
		MinimumEngineVersion: aws.String("6.0"), AccessString: in.AccessString, UserGroupIds: []string{},
		Authentication: &ecapi.Authentication{Type: aws.String("password"), PasswordCount: aws.Int32(int32(len(in.Passwords)))},
		ARN:            aws.String("arn:aws:elasticache:us-east-1:123456789012:user:" + *in.UserId),
	}, nil
}

// A body as the SDK sends it.
const createUserBody = "AccessString=on+~%2A+%2B%40all&Action=CreateUser&AuthenticationMode.Passwords.member.1=password-one-123&" +
	"AuthenticationMode.Type=password&Engine=redis&NoPasswordRequired=false&Passwords.member.1=password-one-123&" +
	"Passwords.member.2=password-two-456&Tags.Tag.1.Key=team&Tags.Tag.1.Value=cache&Tags.Tag.2.Key=env&Tags.Tag.2.Value=prod&" +
	"UserId=alice&UserName=alice&Version=2015-02-02"

type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}

// BenchmarkCreateUser measures a whole CreateUser through the handler:
// form parsing, validation, decoding, the call, encoding and writing.
func BenchmarkCreateUser(b *testing.B) {
	h := ecapi.NewHandler(benchService{}, awsquery.Options{Logger: slog.New(slog.DiscardHandler)})
	body := strings.NewReader(createUserBody)
	r := httptest.NewRequest(http.MethodPost, "/", body)
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		body.Reset(createUserBody)
		r.Body = io.NopCloser(body)
		r.ContentLength = int64(len(createUserBody))
		h.ServeHTTP(w, r)
	}
}

func TestCreateUserBenchBody(t *testing.T) {
	h := ecapi.NewHandler(benchService{}, awsquery.Options{})
	if res := serve(t, h, post(createUserBody)); res.status != 200 || !strings.Contains(res.body, "<PasswordCount>2</PasswordCount>") {
		t.Fatalf("%d %s", res.status, res.body)
	}
}
