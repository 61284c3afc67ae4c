// The FHIR R4 SearchParameter definitions (data/fhir/definitions/search-parameters.json, as
// published), embedded so that the server needs no data files at run time. Kept apart from
// definitions_data.S so that the validator's tables and the search registry can change
// independently. CMake puts data/fhir/definitions on the include path for .incbin.

    .section .rodata
    .balign 64
    .global medulla_fhir_search_parameters_start
    .global medulla_fhir_search_parameters_end
medulla_fhir_search_parameters_start:
    .incbin "search-parameters.json"
medulla_fhir_search_parameters_end:
    .byte 0

// No executable stack.
    .section .note.GNU-stack,"",@progbits
