package api

import (
	"errors"

	"keyward"
	"keyward/awsquery"
	"keyward/ecapi"
)

type errKey struct {
	code string
	res  keyward.Resource
}

// faults maps a domain error kind (and the resource it is about) to the
// model's fault, so that codes and HTTP statuses come from the model.
// Kinds that do not depend on the resource use keyward.ResourceNone.
var faults = map[errKey]func(msg string) awsquery.APIError{
	{keyward.EINVALID, ""}:               func(m string) awsquery.APIError { return &ecapi.InvalidParameterValueException{Message: m} },
	{keyward.ECOMBINATION, ""}:           func(m string) awsquery.APIError { return &ecapi.InvalidParameterCombinationException{Message: m} },
	{keyward.ETAGQUOTA, ""}:              func(m string) awsquery.APIError { return &ecapi.TagQuotaPerResourceExceeded{Message: m} },
	{keyward.ETAGNOTFOUND, ""}:           func(m string) awsquery.APIError { return &ecapi.TagNotFoundFault{Message: m} },
	{keyward.EINVALIDARN, ""}:            func(m string) awsquery.APIError { return &ecapi.InvalidARNFault{Message: m} },
	{keyward.EDEFAULTUSERREQUIRED, ""}:   func(m string) awsquery.APIError { return &ecapi.DefaultUserRequired{Message: m} },
	{keyward.EDUPLICATEUSERNAME, ""}:     func(m string) awsquery.APIError { return &ecapi.DuplicateUserNameFault{Message: m} },
	{keyward.EDEFAULTUSERASSOCIATED, ""}: func(m string) awsquery.APIError { return &ecapi.DefaultUserAssociatedToUserGroupFault{Message: m} },
	// A transaction that kept losing to concurrent ones: the SDKs retry
	// Throttling with backoff, which is what the caller should do.
	{keyward.ECONFLICT, ""}: func(m string) awsquery.APIError {
		return &awsquery.Error{Code: "Throttling", Message: "Rate exceeded: the request conflicted with concurrent changes; retry it.", Status: 400, Fault: "Sender"}
	},

	{keyward.ENOTFOUND, keyward.ResourceUser}:             func(m string) awsquery.APIError { return &ecapi.UserNotFoundFault{Message: m} },
	{keyward.ENOTFOUND, keyward.ResourceUserGroup}:        func(m string) awsquery.APIError { return &ecapi.UserGroupNotFoundFault{Message: m} },
	{keyward.ENOTFOUND, keyward.ResourceReplicationGroup}: func(m string) awsquery.APIError { return &ecapi.ReplicationGroupNotFoundFault{Message: m} },
	{keyward.ENOTFOUND, keyward.ResourceServerlessCache}:  func(m string) awsquery.APIError { return &ecapi.ServerlessCacheNotFoundFault{Message: m} },
	{keyward.ENOTFOUND, keyward.ResourceCacheCluster}:     func(m string) awsquery.APIError { return &ecapi.CacheClusterNotFoundFault{Message: m} },
	{keyward.EEXISTS, keyward.ResourceUser}:               func(m string) awsquery.APIError { return &ecapi.UserAlreadyExistsFault{Message: m} },
	{keyward.EEXISTS, keyward.ResourceUserGroup}:          func(m string) awsquery.APIError { return &ecapi.UserGroupAlreadyExistsFault{Message: m} },
	{keyward.EEXISTS, keyward.ResourceReplicationGroup}:   func(m string) awsquery.APIError { return &ecapi.ReplicationGroupAlreadyExistsFault{Message: m} },
	{keyward.EEXISTS, keyward.ResourceServerlessCache}:    func(m string) awsquery.APIError { return &ecapi.ServerlessCacheAlreadyExistsFault{Message: m} },
	{keyward.ESTATE, keyward.ResourceServerlessCache}:     func(m string) awsquery.APIError { return &ecapi.InvalidServerlessCacheStateFault{Message: m} },
	{keyward.ESTATE, keyward.ResourceUser}:                func(m string) awsquery.APIError { return &ecapi.InvalidUserStateFault{Message: m} },
	{keyward.ESTATE, keyward.ResourceUserGroup}:           func(m string) awsquery.APIError { return &ecapi.InvalidUserGroupStateFault{Message: m} },
	{keyward.ESTATE, keyward.ResourceReplicationGroup}:    func(m string) awsquery.APIError { return &ecapi.InvalidReplicationGroupStateFault{Message: m} },
	{keyward.EQUOTA, keyward.ResourceUser}:                func(m string) awsquery.APIError { return &ecapi.UserQuotaExceededFault{Message: m} },
	{keyward.EQUOTA, keyward.ResourceUserGroup}:           func(m string) awsquery.APIError { return &ecapi.UserGroupQuotaExceededFault{Message: m} },
	{keyward.ESTATE, keyward.ResourceCacheCluster}:        func(m string) awsquery.APIError { return &ecapi.InvalidCacheClusterStateFault{Message: m} },
	{keyward.ENOTFOUND, keyward.ResourceSnapshot}:         func(m string) awsquery.APIError { return &ecapi.SnapshotNotFoundFault{Message: m} },
	{keyward.EEXISTS, keyward.ResourceSnapshot}:           func(m string) awsquery.APIError { return &ecapi.SnapshotAlreadyExistsFault{Message: m} },
	{keyward.ESTATE, keyward.ResourceSnapshot}:            func(m string) awsquery.APIError { return &ecapi.InvalidSnapshotStateFault{Message: m} },
	{keyward.EQUOTA, keyward.ResourceSnapshot}:            func(m string) awsquery.APIError { return &ecapi.SnapshotQuotaExceededFault{Message: m} },
	{keyward.ENOTFOUND, keyward.ResourceServerlessSnapshot}: func(m string) awsquery.APIError {
		return &ecapi.ServerlessCacheSnapshotNotFoundFault{Message: m}
	},
	{keyward.EEXISTS, keyward.ResourceServerlessSnapshot}: func(m string) awsquery.APIError {
		return &ecapi.ServerlessCacheSnapshotAlreadyExistsFault{Message: m}
	},
	{keyward.ESTATE, keyward.ResourceServerlessSnapshot}: func(m string) awsquery.APIError {
		return &ecapi.InvalidServerlessCacheSnapshotStateFault{Message: m}
	},
	{keyward.EQUOTA, keyward.ResourceReplicationGroup}: func(m string) awsquery.APIError { return &ecapi.ClusterQuotaForCustomerExceededFault{Message: m} },
	{keyward.EQUOTA, keyward.ResourceServerlessCache}: func(m string) awsquery.APIError {
		return &ecapi.ServerlessCacheQuotaForCustomerExceededFault{Message: m}
	},
	{keyward.ENODEQUOTA, ""}: func(m string) awsquery.APIError { return &ecapi.NodeQuotaForCustomerExceededFault{Message: m} },
	{keyward.ENODEGROUPQUOTA, ""}: func(m string) awsquery.APIError {
		return &ecapi.NodeGroupsPerReplicationGroupQuotaExceededFault{Message: m}
	},

	{keyward.ENOTFOUND, keyward.ResourceCacheParameterGroup}:   func(m string) awsquery.APIError { return &ecapi.CacheParameterGroupNotFoundFault{Message: m} },
	{keyward.EEXISTS, keyward.ResourceCacheParameterGroup}:     func(m string) awsquery.APIError { return &ecapi.CacheParameterGroupAlreadyExistsFault{Message: m} },
	{keyward.EREFERENCED, keyward.ResourceCacheParameterGroup}: func(m string) awsquery.APIError { return &ecapi.InvalidCacheParameterGroupStateFault{Message: m} },
	{keyward.ESTATE, keyward.ResourceCacheParameterGroup}:      func(m string) awsquery.APIError { return &ecapi.InvalidCacheParameterGroupStateFault{Message: m} },
	{keyward.EQUOTA, keyward.ResourceCacheParameterGroup}:      func(m string) awsquery.APIError { return &ecapi.CacheParameterGroupQuotaExceededFault{Message: m} },
	{keyward.ENOTFOUND, keyward.ResourceCacheSubnetGroup}:      func(m string) awsquery.APIError { return &ecapi.CacheSubnetGroupNotFoundFault{Message: m} },
	{keyward.EEXISTS, keyward.ResourceCacheSubnetGroup}:        func(m string) awsquery.APIError { return &ecapi.CacheSubnetGroupAlreadyExistsFault{Message: m} },
	{keyward.ESTATE, keyward.ResourceCacheSubnetGroup}:         func(m string) awsquery.APIError { return &ecapi.CacheSubnetGroupInUse{Message: m} },
	{keyward.EREFERENCED, keyward.ResourceCacheSubnetGroup}:    func(m string) awsquery.APIError { return &ecapi.CacheSubnetGroupInUse{Message: m} },
	{keyward.EQUOTA, keyward.ResourceCacheSubnetGroup}:         func(m string) awsquery.APIError { return &ecapi.CacheSubnetGroupQuotaExceededFault{Message: m} },
	{keyward.EINVALID, keyward.ResourceSubnet}:                 func(m string) awsquery.APIError { return &ecapi.InvalidSubnet{Message: m} },
	{keyward.EQUOTA, keyward.ResourceSubnet}:                   func(m string) awsquery.APIError { return &ecapi.CacheSubnetQuotaExceededFault{Message: m} },
	{keyward.ESTATE, keyward.ResourceSubnet}:                   func(m string) awsquery.APIError { return &ecapi.SubnetInUse{Message: m} },
	{keyward.ENOTFOUND, keyward.ResourceReservedCacheNode}:     func(m string) awsquery.APIError { return &ecapi.ReservedCacheNodeNotFoundFault{Message: m} },
	{keyward.EEXISTS, keyward.ResourceReservedCacheNode}:       func(m string) awsquery.APIError { return &ecapi.ReservedCacheNodeAlreadyExistsFault{Message: m} },
	{keyward.EQUOTA, keyward.ResourceReservedCacheNode}:        func(m string) awsquery.APIError { return &ecapi.ReservedCacheNodeQuotaExceededFault{Message: m} },
	{keyward.ENOTFOUND, keyward.ResourceReservedCacheNodesOffering}: func(m string) awsquery.APIError {
		return &ecapi.ReservedCacheNodesOfferingNotFoundFault{Message: m}
	},
	{keyward.EMIGRATING, keyward.ResourceReplicationGroup}: func(m string) awsquery.APIError {
		return &ecapi.ReplicationGroupAlreadyUnderMigrationFault{Message: m}
	},
	{keyward.ENOTMIGRATING, keyward.ResourceReplicationGroup}: func(m string) awsquery.APIError {
		return &ecapi.ReplicationGroupNotUnderMigrationFault{Message: m}
	},
	{keyward.EMIGRATING, keyward.ResourceServerlessCache}: func(m string) awsquery.APIError {
		return &ecapi.ServerlessCacheAlreadyUnderMigrationFault{Message: m}
	},
	{keyward.ENOTMIGRATING, keyward.ResourceServerlessCache}: func(m string) awsquery.APIError {
		return &ecapi.ServerlessCacheNotUnderMigrationFault{Message: m}
	},
	{keyward.ENOTFOUND, keyward.ResourceGlobalReplicationGroup}: func(m string) awsquery.APIError {
		return &ecapi.GlobalReplicationGroupNotFoundFault{Message: m}
	},
	{keyward.EEXISTS, keyward.ResourceGlobalReplicationGroup}: func(m string) awsquery.APIError {
		return &ecapi.GlobalReplicationGroupAlreadyExistsFault{Message: m}
	},
	{keyward.ESTATE, keyward.ResourceGlobalReplicationGroup}: func(m string) awsquery.APIError {
		return &ecapi.InvalidGlobalReplicationGroupStateFault{Message: m}
	},
	{keyward.ENOTFOUND, keyward.ResourceServiceUpdate}: func(m string) awsquery.APIError { return &ecapi.ServiceUpdateNotFoundFault{Message: m} },
}

// apiError converts a domain error to the model's fault. Errors that map to
// nothing are returned unchanged: the handler logs them and answers
// InternalFailure without their text.
func apiError(err error) error {
	if err == nil {
		return nil // before e, which escapes: no allocation on success
	}
	var e *keyward.Error
	if !errors.As(err, &e) {
		return err
	}
	if f, ok := faults[errKey{e.Code, e.Resource}]; ok {
		return f(e.Message)
	}
	if f, ok := faults[errKey{e.Code, ""}]; ok {
		return f(e.Message)
	}
	return err
}
