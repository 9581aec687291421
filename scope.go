package keyward

import (
	"slices"
	"strings"
	"unicode/utf8"
)

// Scope is the AWS account and region a resource lives in. Resources in
// different scopes never see each other, as on AWS.
type Scope struct {
	Account string `json:"account"`
	Region  string `json:"region"`
}

// DefaultScope is used when a request carries no credential scope, e.g. an
// unsigned request on loopback.
var DefaultScope = Scope{Account: "000000000000", Region: "us-east-1"}

// DefaultRegions returns the names of the AWS regions of the commercial, China and
// GovCloud partitions, as the AWS SDKs' partition table lists them
// (aws-sdk-go-v2 v1.48.0, internal/endpoints/awsrulesfn/partitions.json,
// without the "-global" pseudo-regions). keyward serves these by default
// and no others: AWS has no endpoint for an invented region, and a region
// that anyone could invent would multiply every per-region quota.
func DefaultRegions() []string { return slices.Clone(defaultRegions) }

var defaultRegions = []string{
	// partition aws
	"af-south-1", "ap-east-1", "ap-east-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
	"ap-south-1", "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3",
	"ap-southeast-4", "ap-southeast-5", "ap-southeast-6", "ap-southeast-7", "ca-central-1",
	"ca-west-1", "eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2",
	"eu-west-1", "eu-west-2", "eu-west-3", "il-central-1", "me-central-1", "me-south-1", "me-west-1",
	"mx-central-1", "sa-east-1", "sa-west-1", "us-east-1", "us-east-2", "us-west-1", "us-west-2",
	// partition aws-cn
	"cn-north-1", "cn-northwest-1",
	// partition aws-us-gov
	"us-gov-east-1", "us-gov-west-1",
}

// Partition returns the AWS partition of the scope's region.
func (s Scope) Partition() string {
	switch {
	case strings.HasPrefix(s.Region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(s.Region, "us-gov-"):
		return "aws-us-gov"
	}
	return "aws"
}

// ARN returns the ARN of a resource of the given type in this scope, e.g.
// arn:aws:elasticache:us-east-1:123456789012:user:alice.
func (s Scope) ARN(typ ARNType, id string) string {
	return "arn:" + s.Partition() + ":elasticache:" + s.Region + ":" + s.Account + ":" + string(typ) + ":" + id
}

// ARNType is the resource-type segment of an ElastiCache ARN.
type ARNType string

// ARN resource types keyward understands.
const (
	ARNUser             ARNType = "user"
	ARNUserGroup        ARNType = "usergroup"
	ARNReplicationGroup ARNType = "replicationgroup"
	ARNCluster          ARNType = "cluster"
	ARNServerlessCache  ARNType = "serverlesscache"
)

// ResourceRef identifies a taggable resource inside a scope.
type ResourceRef struct {
	Type ARNType `json:"type"`
	ID   string  `json:"id"`
}

// ParseARN splits an ElastiCache ARN into its scope and resource. It returns
// EINVALIDARN for anything malformed.
func ParseARN(arn string) (Scope, ResourceRef, error) {
	parts := strings.SplitN(arn, ":", 7)
	if len(parts) != 7 || parts[0] != "arn" || parts[2] != "elasticache" || parts[3] == "" || parts[4] == "" || parts[5] == "" || parts[6] == "" {
		return Scope{}, ResourceRef{}, Errorf(EINVALIDARN, ResourceNone, "The ARN %s is not valid.", arn)
	}
	s := Scope{Account: parts[4], Region: parts[3]}
	if s.Partition() != parts[1] {
		return Scope{}, ResourceRef{}, Errorf(EINVALIDARN, ResourceNone, "The ARN %s is not valid.", arn)
	}
	return s, ResourceRef{Type: ARNType(parts[5]), ID: parts[6]}, nil
}

// Tag is a key/value pair attached to a resource.
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// MaxTagsPerResource is ElastiCache's limit of tags on one resource.
const MaxTagsPerResource = 50

// ValidateTags checks keys and values against ElastiCache's tag rules.
func ValidateTags(tags []Tag) error {
	for _, t := range tags {
		if !validTagText(t.Key) || !validTagText(t.Value) {
			return Errorf(EINVALID, ResourceNone, "Tag keys and values must be valid UTF-8 without control characters.")
		}
		if n := utf8.RuneCountInString(t.Key); n < 1 || n > 128 {
			return Errorf(EINVALID, ResourceNone, "Tag keys must be between 1 and 128 characters.")
		}
		if utf8.RuneCountInString(t.Value) > 256 {
			return Errorf(EINVALID, ResourceNone, "Tag values must be at most 256 characters.")
		}
		if strings.HasPrefix(strings.ToLower(t.Key), "aws:") {
			return Errorf(EINVALID, ResourceNone, "Tag keys must not start with aws:.")
		}
	}
	return nil
}

// validTagText reports whether s can be stored and returned unchanged as a
// tag key or value: valid UTF-8 without control characters.
func validTagText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, IsControl)
}

// MergeTags returns old with add applied: an existing key takes the new value.
func MergeTags(old, add []Tag) []Tag {
	out := append([]Tag(nil), old...)
	for _, t := range add {
		replaced := false
		for i := range out {
			if out[i].Key == t.Key {
				out[i].Value, replaced = t.Value, true
				break
			}
		}
		if !replaced {
			out = append(out, t)
		}
	}
	return out
}

// isResourceID reports whether id is a letter followed by letters, digits
// and hyphens (ASCII), the shape of user, group and cache ids: what
// ^[a-zA-Z][a-zA-Z0-9-]*$ matches, checked on every call without a regexp.
func isResourceID(id string) bool {
	if id == "" || !isLetter(id[0]) {
		return false
	}
	for i := 1; i < len(id); i++ {
		if c := id[i]; !isLetter(c) && !(c >= '0' && c <= '9') && c != '-' {
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
