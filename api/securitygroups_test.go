package api_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"

	"keyward/keywardtest"
)

// TestCacheSecurityGroups_NoEC2Classic: every cache security group
// operation answers as ElastiCache answers an account without EC2-Classic.
func TestCacheSecurityGroups_NoEC2Classic(t *testing.T) {
	ts := keywardtest.New(t)
	c := ts.Client
	calls := map[string]func(context.Context) error{
		"Create": func(ctx context.Context) error {
			_, err := c.CreateCacheSecurityGroup(ctx, &elasticache.CreateCacheSecurityGroupInput{CacheSecurityGroupName: aws.String("sg"), Description: aws.String("d")})
			return err
		},
		"Describe": func(ctx context.Context) error {
			_, err := c.DescribeCacheSecurityGroups(ctx, &elasticache.DescribeCacheSecurityGroupsInput{})
			return err
		},
		"Delete": func(ctx context.Context) error {
			_, err := c.DeleteCacheSecurityGroup(ctx, &elasticache.DeleteCacheSecurityGroupInput{CacheSecurityGroupName: aws.String("sg")})
			return err
		},
		"Authorize": func(ctx context.Context) error {
			_, err := c.AuthorizeCacheSecurityGroupIngress(ctx, &elasticache.AuthorizeCacheSecurityGroupIngressInput{
				CacheSecurityGroupName: aws.String("sg"), EC2SecurityGroupName: aws.String("web"), EC2SecurityGroupOwnerId: aws.String("123456789012"),
			})
			return err
		},
		"Revoke": func(ctx context.Context) error {
			_, err := c.RevokeCacheSecurityGroupIngress(ctx, &elasticache.RevokeCacheSecurityGroupIngressInput{
				CacheSecurityGroupName: aws.String("sg"), EC2SecurityGroupName: aws.String("web"), EC2SecurityGroupOwnerId: aws.String("123456789012"),
			})
			return err
		},
	}
	for name, call := range calls {
		err := call(t.Context())
		keywardtest.WantError(t, err, "InvalidParameterValue", 400)
		if err == nil || !strings.Contains(err.Error(), "Use of cache security groups is not permitted in this API version for your account.") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
