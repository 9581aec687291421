package api

import (
	"keyward"
	"keyward/ecapi"
)

// ElastiCache Serverless's bounds of CacheUsageLimits.DataStorage, in GB.
const (
	minDataStorageGB = 1
	maxDataStorageGB = 5000
)

// dataStorageLimits checks the DataStorage limits of a request, starting
// from the current ones (lo, hi), and returns the new ones. Only the data
// storage limit is read here: it sizes the node's maxmemory.
func dataStorageLimits(l *ecapi.CacheUsageLimits, lo, hi int) (int, int, error) {
	if l == nil || l.DataStorage == nil {
		return lo, hi, nil
	}
	ds := l.DataStorage
	if deref(ds.Unit) != "GB" {
		return 0, 0, keyward.Errorf(keyward.EINVALID, keyward.ResourceServerlessCache, "Invalid DataStorage unit %s: the only unit is GB.", deref(ds.Unit))
	}
	lo, hi = 0, 0
	if ds.Maximum != nil {
		hi = int(*ds.Maximum)
		if hi < minDataStorageGB || hi > maxDataStorageGB {
			return 0, 0, keyward.Errorf(keyward.EINVALID, keyward.ResourceServerlessCache, "DataStorage Maximum must be between %d and %d GB.", minDataStorageGB, maxDataStorageGB)
		}
	}
	if ds.Minimum != nil {
		lo = int(*ds.Minimum)
		if lo < minDataStorageGB || lo > maxDataStorageGB || (hi > 0 && lo > hi) {
			return 0, 0, keyward.Errorf(keyward.EINVALID, keyward.ResourceServerlessCache, "DataStorage Minimum must be between %d and %d GB and not above Maximum.", minDataStorageGB, maxDataStorageGB)
		}
	}
	if lo == 0 && hi == 0 {
		return 0, 0, keyward.Errorf(keyward.EINVALID, keyward.ResourceServerlessCache, "DataStorage needs a Minimum or a Maximum.")
	}
	return lo, hi, nil
}
