package reserved

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Derive builds the catalogue from source.tsv: its documented offerings as
// they are, and for every rate row × product × term × offering type of the
// discount rows an offering priced from the on-demand rate:
//
//	effective hourly = rate × product factor × (1 − discount)
//	No Upfront:      no fixed price, the effective hourly rate recurring
//	Partial Upfront: half the term's effective cost upfront, half hourly
//	All Upfront:     the term's effective cost upfront, 0.0 hourly
//
// UsagePrice is 0 for these (their hourly price is the recurring charge),
// fixed prices are rounded to cents and hourly prices to 3 decimals.
func Derive(src []byte) ([]Offering, error) {
	type rate struct {
		node   string
		hourly float64
		source string
	}
	type discount struct {
		years  int32
		typ    string
		d      float64
		source string
	}
	type product struct {
		name   string
		factor float64
		source string
	}
	var (
		rates     []rate
		discounts []discount
		products  []product
		out       []Offering
	)
	sc := bufio.NewScanner(bytes.NewReader(src))
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		f := strings.Split(text, "\t")
		bad := func(what string) error { return fmt.Errorf("source.tsv:%d: %s: %q", line, what, text) }
		num := func(s string) (float64, error) {
			v, err := strconv.ParseFloat(s, 64)
			if err != nil || v < 0 {
				return 0, bad("bad number " + s)
			}
			return v, nil
		}
		switch f[0] {
		case "rate":
			if len(f) != 4 {
				return nil, bad("rate wants 4 columns")
			}
			v, err := num(f[2])
			if err != nil {
				return nil, err
			}
			rates = append(rates, rate{f[1], v, f[3]})
		case "discount":
			if len(f) != 5 || (f[1] != "1" && f[1] != "3") {
				return nil, bad("discount wants years (1 or 3), type, discount, source")
			}
			v, err := num(f[3])
			if err != nil || v >= 1 {
				return nil, bad("discount must be in [0, 1)")
			}
			y, _ := strconv.Atoi(f[1])
			discounts = append(discounts, discount{int32(y), f[2], v, f[4]})
		case "product":
			if len(f) != 4 {
				return nil, bad("product wants 4 columns")
			}
			v, err := num(f[2])
			if err != nil {
				return nil, err
			}
			products = append(products, product{f[1], v, f[3]})
		case "offering":
			if len(f) != 10 || (f[3] != "1" && f[3] != "3") {
				return nil, bad("offering wants 10 columns and 1 or 3 years")
			}
			y, _ := strconv.Atoi(f[3])
			o := Offering{ID: f[1], NodeType: f[2], Duration: int32(y) * OneYear, OfferingType: f[4], Product: f[5], Source: f[9]}
			var err error
			if o.FixedPrice, err = num(f[6]); err != nil {
				return nil, err
			}
			if o.UsagePrice, err = num(f[7]); err != nil {
				return nil, err
			}
			if f[8] != "-" {
				v, err := num(f[8])
				if err != nil {
					return nil, err
				}
				o.Recurring = []Charge{{Amount: v, Frequency: "Hourly"}}
			}
			out = append(out, o)
		default:
			return nil, bad("unknown row kind " + f[0])
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for _, r := range rates {
		for _, p := range products {
			for _, d := range discounts {
				hours := float64(d.years) * 8760
				eff := r.hourly * p.factor * (1 - d.d)
				o := Offering{
					NodeType: r.node, Duration: d.years * OneYear, Product: p.name, OfferingType: d.typ,
					Source: fmt.Sprintf("derived from the on-demand rate %g/h (%s), product factor %g (%s), %g%% discount (%s)",
						r.hourly, r.source, p.factor, p.source, d.d*100, d.source),
				}
				switch d.typ {
				case "No Upfront":
					o.Recurring = []Charge{{Amount: round(eff, 3), Frequency: "Hourly"}}
				case "Partial Upfront":
					o.FixedPrice = round(eff*hours/2, 2)
					o.Recurring = []Charge{{Amount: round(eff/2, 3), Frequency: "Hourly"}}
				case "All Upfront":
					o.FixedPrice = round(eff*hours, 2)
					o.Recurring = []Charge{{Amount: 0, Frequency: "Hourly"}}
				default:
					return nil, fmt.Errorf("source.tsv: discount for unknown offering type %q", d.typ)
				}
				o.ID = derivedID(o)
				out = append(out, o)
			}
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].ID < out[b].ID })
	seen := map[string]bool{}
	keys := map[string]bool{}
	for _, o := range out {
		if seen[o.ID] {
			return nil, fmt.Errorf("source.tsv: offering id %s twice", o.ID)
		}
		seen[o.ID] = true
		// Terraform's offering data source needs exactly one offering per
		// node type, term, offering type and product.
		k := fmt.Sprint(o.NodeType, o.Duration, o.OfferingType, o.Product)
		if keys[k] {
			return nil, fmt.Errorf("source.tsv: two offerings for %s %d %s %s", o.NodeType, o.Duration, o.OfferingType, o.Product)
		}
		keys[k] = true
	}
	return out, nil
}

// derivedID is a UUID-shaped id that depends only on what the offering is.
func derivedID(o Offering) string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s|%d|%s|%s", o.NodeType, o.Duration, o.OfferingType, o.Product)))
	h := hex.EncodeToString(sum[:16])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func round(v float64, places int) float64 {
	p := math.Pow10(places)
	return math.Round(v*p) / p
}
