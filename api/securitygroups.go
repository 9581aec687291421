package api

import (
	"context"

	"keyward"
	"keyward/ecapi"
)

// Cache security groups belong to EC2-Classic, which AWS retired: accounts
// created since answer every cache security group operation with this
// InvalidParameterValue (the message ElastiCache gives, e.g. to Terraform's
// and Ansible's users). keyward's accounts are such accounts; caches take
// VPC SecurityGroupIds instead.
const errNoCacheSecurityGroups = "Use of cache security groups is not permitted in this API version for your account."

func (s *Service) noCacheSecurityGroups(ctx context.Context) error {
	if _, err := s.scope(ctx); err != nil {
		return apiError(err)
	}
	return apiError(keyward.Errorf(keyward.EINVALID, keyward.ResourceNone, errNoCacheSecurityGroups))
}

// CreateCacheSecurityGroup answers as for an account without EC2-Classic.
func (s *Service) CreateCacheSecurityGroup(ctx context.Context, _ *ecapi.CreateCacheSecurityGroupMessage) (*ecapi.CreateCacheSecurityGroupResult, error) {
	return nil, s.noCacheSecurityGroups(ctx)
}

// DescribeCacheSecurityGroups answers as for an account without EC2-Classic.
func (s *Service) DescribeCacheSecurityGroups(ctx context.Context, _ *ecapi.DescribeCacheSecurityGroupsMessage) (*ecapi.CacheSecurityGroupMessage, error) {
	return nil, s.noCacheSecurityGroups(ctx)
}

// DeleteCacheSecurityGroup answers as for an account without EC2-Classic.
func (s *Service) DeleteCacheSecurityGroup(ctx context.Context, _ *ecapi.DeleteCacheSecurityGroupMessage) error {
	return s.noCacheSecurityGroups(ctx)
}

// AuthorizeCacheSecurityGroupIngress answers as for an account without EC2-Classic.
func (s *Service) AuthorizeCacheSecurityGroupIngress(ctx context.Context, _ *ecapi.AuthorizeCacheSecurityGroupIngressMessage) (*ecapi.AuthorizeCacheSecurityGroupIngressResult, error) {
	return nil, s.noCacheSecurityGroups(ctx)
}

// RevokeCacheSecurityGroupIngress answers as for an account without EC2-Classic.
func (s *Service) RevokeCacheSecurityGroupIngress(ctx context.Context, _ *ecapi.RevokeCacheSecurityGroupIngressMessage) (*ecapi.RevokeCacheSecurityGroupIngressResult, error) {
	return nil, s.noCacheSecurityGroups(ctx)
}
