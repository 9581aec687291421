package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/aws/smithy-go"
)

func TestParseFlags_Baselines(t *testing.T) {
	c, err := parseFlags([]string{"--targets", "keyward,noop,moto", "--baseline", "/bin/old", "--baseline-rev", "47fcae1",
		"--workloads", "describe,lifecycle"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"keyward", "baseline", "47fcae1", "noop", "moto"}; !slices.Equal(c.targets, want) {
		t.Errorf("targets %v, want %v", c.targets, want)
	}
	if want := []string{"describe", "lifecycle"}; !slices.Equal(c.workloads, want) {
		t.Errorf("workloads %v, want %v", c.workloads, want)
	}
	if c.keywardBin("baseline") != "/bin/old" || !c.isKeyward("47fcae1") || c.isKeyward("noop") {
		t.Errorf("baselines %+v", c.baselines)
	}
	for _, args := range [][]string{
		{"--targets", "nosuch"},
		{"--workloads", "nosuch"},
		{"--baseline", "moto=/bin/x"},
		{"--baseline", "/a", "--baseline", "/b"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}

// TestNoop checks that the floor's canned answers are what the SDK reads
// as valid results of the benchmark's calls, and that it refuses others.
func TestNoop(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(noopHandler))
	defer ts.Close()
	c := elasticache.New(elasticache.Options{
		BaseEndpoint: aws.String(ts.URL), Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""), Retryer: aws.NopRetryer{},
	})
	ctx := context.Background()
	cu, err := c.CreateUser(ctx, &elasticache.CreateUserInput{UserId: aws.String("u<1>"), UserName: aws.String("n1"),
		Engine: aws.String("redis"), AccessString: aws.String("on ~* +@all"), Passwords: []string{"bench-password-0123456789"}})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(cu.UserId) != "u<1>" || aws.ToString(cu.UserName) != "n1" || aws.ToString(cu.Status) != "active" ||
		!strings.HasSuffix(aws.ToString(cu.ARN), ":user:u<1>") {
		t.Errorf("CreateUser: %+v", cu)
	}
	du, err := c.DescribeUsers(ctx, &elasticache.DescribeUsersInput{UserId: aws.String("u2")})
	if err != nil {
		t.Fatal(err)
	}
	if len(du.Users) != 1 || aws.ToString(du.Users[0].UserId) != "u2" {
		t.Errorf("DescribeUsers: %+v", du.Users)
	}
	xu, err := c.DeleteUser(ctx, &elasticache.DeleteUserInput{UserId: aws.String("u3")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(xu.Status) != "deleting" {
		t.Errorf("DeleteUser: status %q", aws.ToString(xu.Status))
	}
	_, err = c.DescribeUserGroups(ctx, &elasticache.DescribeUserGroupsInput{})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidAction" {
		t.Errorf("DescribeUserGroups: %v, want InvalidAction", err)
	}
}
