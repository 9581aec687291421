package keyward

import (
	"reflect"
	"testing"
	"time"
)

// TestCloneIsDeep checks every Clone the decode cache relies on (see
// decodeCache) against the type it copies: with every field set, the clone
// equals the original and shares no slice, pointer or map with it. A field
// added to a type and forgotten in its Clone fails here, before it can let
// one reader's change leak into the cache and every later read.
func TestCloneIsDeep(t *testing.T) {
	for _, c := range []struct {
		name  string
		clone func(any) any
		zero  any
	}{
		{"User", func(v any) any { return v.(*User).Clone() }, &User{}},
		{"UserGroup", func(v any) any { return v.(*UserGroup).Clone() }, &UserGroup{}},
		{"Cache", func(v any) any { return v.(*Cache).Clone() }, &Cache{}},
		{"CacheCluster", func(v any) any { return v.(*CacheCluster).Clone() }, &CacheCluster{}},
		{"Snapshot", func(v any) any { return v.(*Snapshot).Clone() }, &Snapshot{}},
		{"GlobalGroup", func(v any) any { return v.(*GlobalGroup).Clone() }, &GlobalGroup{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			orig := reflect.ValueOf(c.zero)
			fillValue(t, orig.Elem(), c.name)
			cl := reflect.ValueOf(c.clone(c.zero))
			if !reflect.DeepEqual(orig.Interface(), cl.Interface()) {
				t.Fatalf("the clone differs from the original:\n%+v\n%+v", orig.Elem().Interface(), cl.Elem().Interface())
			}
			sharesNothing(t, orig.Elem(), cl.Elem(), c.name)
		})
	}
}

var timeType = reflect.TypeOf(time.Time{})

// fillValue sets every exported field under v to a non-zero value, with
// two elements in slices and one entry in maps.
func fillValue(t *testing.T, v reflect.Value, path string) {
	t.Helper()
	if v.Type() == timeType {
		v.Set(reflect.ValueOf(time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(1)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(1.5)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := 0; i < 2; i++ {
			fillValue(t, v.Index(i), path+"[]")
		}
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fillValue(t, v.Elem(), path)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fillValue(t, k, path+"[key]")
		fillValue(t, e, path+"[]")
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if f := v.Type().Field(i); f.IsExported() {
				fillValue(t, v.Field(i), path+"."+f.Name)
			} else {
				t.Errorf("%s.%s: unexported field; extend this test to fill it", path, f.Name)
			}
		}
	default:
		t.Errorf("%s: a %s field; extend this test to fill and check it", path, v.Kind())
	}
}

// sharesNothing fails for each slice, pointer or map a and b share.
func sharesNothing(t *testing.T, a, b reflect.Value, path string) {
	t.Helper()
	if a.Type() == timeType {
		return // a value; its *Location is shared by design
	}
	switch a.Kind() {
	case reflect.Slice:
		if a.Len() > 0 && a.Pointer() == b.Pointer() {
			t.Errorf("%s: the clone shares the slice", path)
		}
		for i := 0; i < a.Len() && i < b.Len(); i++ {
			sharesNothing(t, a.Index(i), b.Index(i), path+"[]")
		}
	case reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			return
		}
		if a.Pointer() == b.Pointer() {
			t.Errorf("%s: the clone shares the pointer", path)
		}
		sharesNothing(t, a.Elem(), b.Elem(), path)
	case reflect.Map:
		if !a.IsNil() && a.Pointer() == b.Pointer() {
			t.Errorf("%s: the clone shares the map", path)
		}
	case reflect.Struct:
		for i := 0; i < a.NumField(); i++ {
			sharesNothing(t, a.Field(i), b.Field(i), path+"."+a.Type().Field(i).Name)
		}
	}
}
