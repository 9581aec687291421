package api

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"keyward"
	"keyward/ecapi"
	"keyward/reserved"
)

// Reservations: the offerings are package reserved's catalogue (the same in
// every region); a purchase is a keyward.ReservedCacheNode document whose
// state follows from the time: payment-pending for PaymentPending after the
// purchase, then active for its term, then retired.

const (
	// defaultPaymentPending is how long a new reservation stays
	// payment-pending when Service.PaymentPending is zero.
	defaultPaymentPending = 2 * time.Second
	// defaultReservedNodesQuota is keyward's limit of reserved nodes (the
	// sum of CacheNodeCount over unexpired reservations) per scope when
	// Quotas.ReservedCacheNodes is zero: the per-Region node quota of
	// ElastiCache, 300.
	defaultReservedNodesQuota = 300
)

// reservationIDRE: letters, digits and hyphens, starting with a letter, as
// ElastiCache identifiers; case is kept.
var reservationIDRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{0,254}$`)

func offeringToAPI(o reserved.Offering) ecapi.ReservedCacheNodesOffering {
	return ecapi.ReservedCacheNodesOffering{
		ReservedCacheNodesOfferingId: ptr(o.ID), CacheNodeType: ptr(o.NodeType), Duration: ptr(o.Duration),
		FixedPrice: ptr(o.FixedPrice), UsagePrice: ptr(o.UsagePrice), ProductDescription: ptr(o.Product),
		OfferingType: ptr(o.OfferingType), RecurringCharges: chargesToAPI(o.Recurring),
	}
}

func chargesToAPI[C reserved.Charge | keyward.RecurringCharge](cs []C) []ecapi.RecurringCharge {
	out := []ecapi.RecurringCharge{}
	for _, c := range cs {
		var amount float64
		var freq string
		switch c := any(c).(type) {
		case reserved.Charge:
			amount, freq = c.Amount, c.Frequency
		case keyward.RecurringCharge:
			amount, freq = c.Amount, c.Frequency
		}
		out = append(out, ecapi.RecurringCharge{RecurringChargeAmount: ptr(amount), RecurringChargeFrequency: ptr(freq)})
	}
	return out
}

// DescribeReservedCacheNodesOfferings lists the catalogue's offerings that
// match the filters, by id; an unknown ReservedCacheNodesOfferingId is
// ReservedCacheNodesOfferingNotFound.
func (s *Service) DescribeReservedCacheNodesOfferings(ctx context.Context, in *ecapi.DescribeReservedCacheNodesOfferingsMessage) (*ecapi.ReservedCacheNodesOfferingMessage, error) {
	out, err := s.describeOfferings(ctx, in)
	return out, apiError(err)
}

func (s *Service) describeOfferings(ctx context.Context, in *ecapi.DescribeReservedCacheNodesOfferingsMessage) (*ecapi.ReservedCacheNodesOfferingMessage, error) {
	if _, err := s.scope(ctx); err != nil {
		return nil, err
	}
	page, err := parsePage(in.MaxRecords, in.Marker)
	if err != nil {
		return nil, err
	}
	f := reserved.Filter{ID: deref(in.ReservedCacheNodesOfferingId), NodeType: deref(in.CacheNodeType), Duration: deref(in.Duration),
		Product: deref(in.ProductDescription), OfferingType: deref(in.OfferingType)}
	offs, err := reserved.Find(f)
	if err != nil {
		return nil, keyward.Errorf(keyward.EINVALID, keyward.ResourceNone, "%s", err.Error())
	}
	if f.ID != "" {
		if _, ok := reserved.ByID(f.ID); !ok {
			return nil, keyward.Errorf(keyward.ENOTFOUND, keyward.ResourceReservedCacheNodesOffering, "ReservedCacheNodesOffering %s not found.", f.ID)
		}
	}
	out := &ecapi.ReservedCacheNodesOfferingMessage{ReservedCacheNodesOfferings: []ecapi.ReservedCacheNodesOffering{}}
	for _, o := range offs {
		if o.ID <= page.after {
			continue
		}
		if len(out.ReservedCacheNodesOfferings) == page.max {
			out.Marker = ptr(encodeMarker(*out.ReservedCacheNodesOfferings[page.max-1].ReservedCacheNodesOfferingId))
			break
		}
		out.ReservedCacheNodesOfferings = append(out.ReservedCacheNodesOfferings, offeringToAPI(o))
	}
	return out, nil
}

func (s *Service) paymentPending() time.Duration {
	if s.PaymentPending > 0 {
		return s.PaymentPending
	}
	return defaultPaymentPending
}

func (s *Service) reservedNodesQuota() int {
	if s.Quotas.ReservedCacheNodes > 0 {
		return s.Quotas.ReservedCacheNodes
	}
	return defaultReservedNodesQuota
}

func (s *Service) reservationToAPI(r *keyward.ReservedCacheNode) *ecapi.ReservedCacheNode {
	return &ecapi.ReservedCacheNode{
		ReservedCacheNodeId: ptr(r.ID), ReservedCacheNodesOfferingId: ptr(r.OfferingID), CacheNodeType: ptr(r.NodeType),
		StartTime: ptr(r.StartTime), Duration: ptr(r.Duration), FixedPrice: ptr(r.FixedPrice), UsagePrice: ptr(r.UsagePrice),
		CacheNodeCount: ptr(int32(r.Count)), ProductDescription: ptr(r.Product), OfferingType: ptr(r.OfferingType),
		State: ptr(r.StateAt(s.now())), RecurringCharges: chargesToAPI(r.Recurring),
		ReservationARN: ptr(r.Scope.ARN(keyward.ARNReservedInstance, r.ID)),
	}
}

// PurchaseReservedCacheNodesOffering reserves CacheNodeCount (default 1)
// nodes of an offering of the catalogue under ReservedCacheNodeId (or a
// generated "ri-<time>" id), with its tags.
func (s *Service) PurchaseReservedCacheNodesOffering(ctx context.Context, in *ecapi.PurchaseReservedCacheNodesOfferingMessage) (*ecapi.PurchaseReservedCacheNodesOfferingResult, error) {
	out, err := s.purchase(ctx, in)
	return out, apiError(err)
}

func (s *Service) purchase(ctx context.Context, in *ecapi.PurchaseReservedCacheNodesOfferingMessage) (*ecapi.PurchaseReservedCacheNodesOfferingResult, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	o, ok := reserved.ByID(deref(in.ReservedCacheNodesOfferingId))
	if !ok {
		return nil, keyward.Errorf(keyward.ENOTFOUND, keyward.ResourceReservedCacheNodesOffering, "ReservedCacheNodesOffering %s not found.", deref(in.ReservedCacheNodesOfferingId))
	}
	count := 1
	if in.CacheNodeCount != nil {
		if *in.CacheNodeCount < 1 {
			return nil, keyward.Errorf(keyward.EINVALID, keyward.ResourceNone, "CacheNodeCount must be at least 1.")
		}
		count = int(*in.CacheNodeCount)
	}
	now := s.now()
	id := deref(in.ReservedCacheNodeId)
	generated := id == ""
	if generated {
		id = "ri-" + now.Format("2006-01-02-15-04-05-000")
	} else if !reservationIDRE.MatchString(id) {
		return nil, keyward.Errorf(keyward.EINVALID, keyward.ResourceNone, "Invalid ReservedCacheNodeId %s: it must begin with a letter and contain only letters, digits and hyphens (at most 255).", id)
	}
	tags, err := parseTags(in.Tags)
	if err != nil {
		return nil, err
	}
	r := &keyward.ReservedCacheNode{
		Scope: sc, ID: id, OfferingID: o.ID, NodeType: o.NodeType, Duration: o.Duration, FixedPrice: o.FixedPrice,
		UsagePrice: o.UsagePrice, Count: count, Product: o.Product, OfferingType: o.OfferingType,
		StartTime: now, ActiveAt: now.Add(s.paymentPending()),
	}
	for _, c := range o.Recurring {
		r.Recurring = append(r.Recurring, keyward.RecurringCharge{Amount: c.Amount, Frequency: c.Frequency})
	}
	err = s.Store.Update(ctx, func(tx keyward.Tx) error {
		all, err := keyward.ReservedCacheNodes.Find(ctx, tx, keyward.DocQuery{Scope: sc})
		if err != nil {
			return err
		}
		used := 0
		for _, x := range all {
			if x.StateAt(now) != keyward.ReservationRetired {
				used += x.Count
			}
		}
		if used+count > s.reservedNodesQuota() {
			return keyward.Errorf(keyward.EQUOTA, keyward.ResourceReservedCacheNode, "The request would exceed the quota of %d reserved cache nodes (%d reserved).", s.reservedNodesQuota(), used)
		}
		for i := 0; ; i++ {
			err = keyward.ReservedCacheNodes.Create(ctx, tx, r)
			if !generated || keyward.ErrorCode(err) != keyward.EEXISTS || i == 100 {
				break
			}
			r.ID = fmt.Sprintf("ri-%s-%d", now.Format("2006-01-02-15-04-05-000"), i+1)
		}
		if keyward.ErrorCode(err) == keyward.EEXISTS {
			return keyward.Errorf(keyward.EEXISTS, keyward.ResourceReservedCacheNode, "Reserved cache node %s already exists.", r.ID)
		}
		if err != nil {
			return err
		}
		return tagNewResource(ctx, tx, sc, keyward.ResourceRef{Type: keyward.ARNReservedInstance, ID: r.ID}, tags)
	})
	if err != nil {
		return nil, err
	}
	return &ecapi.PurchaseReservedCacheNodesOfferingResult{ReservedCacheNode: s.reservationToAPI(r)}, nil
}

// DescribeReservedCacheNodes lists the scope's reservations that match the
// filters, by id; an unknown ReservedCacheNodeId is ReservedCacheNodeNotFound.
func (s *Service) DescribeReservedCacheNodes(ctx context.Context, in *ecapi.DescribeReservedCacheNodesMessage) (*ecapi.ReservedCacheNodeMessage, error) {
	out, err := s.describeReservations(ctx, in)
	return out, apiError(err)
}

func (s *Service) describeReservations(ctx context.Context, in *ecapi.DescribeReservedCacheNodesMessage) (*ecapi.ReservedCacheNodeMessage, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	page, err := parsePage(in.MaxRecords, in.Marker)
	if err != nil {
		return nil, err
	}
	q := keyward.DocQuery{Scope: sc, ID: deref(in.ReservedCacheNodeId), AfterID: page.after, Limit: page.max + 1}
	for _, w := range []struct {
		name string
		v    *string
	}{{"offering", in.ReservedCacheNodesOfferingId}, {"nodetype", in.CacheNodeType}, {"product", in.ProductDescription}, {"offeringtype", in.OfferingType}} {
		if deref(w.v) != "" {
			q.Where = append(q.Where, keyward.Field{Name: w.name, Value: *w.v})
		}
	}
	if deref(in.Duration) != "" {
		d, err := reserved.ParseDuration(*in.Duration)
		if err != nil {
			return nil, keyward.Errorf(keyward.EINVALID, keyward.ResourceNone, "%s", err.Error())
		}
		q.Where = append(q.Where, keyward.Field{Name: "duration", Value: strconv.Itoa(int(d))})
	}
	var rs []*keyward.ReservedCacheNode
	err = s.Store.View(ctx, func(tx keyward.Tx) (err error) {
		rs, err = keyward.ReservedCacheNodes.Find(ctx, tx, q)
		return err
	})
	if err != nil {
		return nil, err
	}
	if q.ID != "" && len(rs) == 0 && page.after == "" {
		return nil, keyward.Errorf(keyward.ENOTFOUND, keyward.ResourceReservedCacheNode, "Reserved cache node %s not found.", q.ID)
	}
	out := &ecapi.ReservedCacheNodeMessage{ReservedCacheNodes: []ecapi.ReservedCacheNode{}}
	if len(rs) > page.max {
		rs, out.Marker = rs[:page.max], ptr(encodeMarker(rs[page.max-1].ID))
	}
	for _, r := range rs {
		out.ReservedCacheNodes = append(out.ReservedCacheNodes, *s.reservationToAPI(r))
	}
	return out, nil
}
