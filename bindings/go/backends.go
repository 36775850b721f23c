package edgeformer

/*
#include "edgeformer/edgeformer.h"
*/
import "C"

// BackendInfo is one entry of the backend list; Reason says why it is unavailable.
type BackendInfo struct {
	Name      string
	Available bool
	Device    string
	Memory    uint64
	Score     int32
	Reason    string
	Path      string
}

// Backends lists every backend found (the built-in cpu first), available or not.
func Backends() ([]BackendInfo, error) {
	n := int32(C.ef_backend_count())
	out := make([]BackendInfo, 0, n)
	for i := int32(0); i < n; i++ {
		var b *C.ef_backend
		if err := call(func() C.ef_status { return C.ef_backend_get(C.int32_t(i), &b) }); err != nil {
			return nil, err
		}
		out = append(out, BackendInfo{
			Name:      C.GoString(C.ef_backend_name(b)),
			Available: C.ef_backend_available(b) != 0,
			Device:    C.GoString(C.ef_backend_device(b)),
			Memory:    uint64(C.ef_backend_memory(b)),
			Score:     int32(C.ef_backend_score(b)),
			Reason:    C.GoString(C.ef_backend_unavailable_reason(b)),
			Path:      C.GoString(C.ef_backend_path(b)),
		})
	}
	return out, nil
}
