module github.com/edgeformer/edgeformer/bindings/go

go 1.19
