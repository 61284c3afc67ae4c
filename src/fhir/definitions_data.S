// The stripped FHIR R4 definitions and the value sets of their required bindings
// (data/fhir/definitions/, written by tools/strip_definitions.py and
// tools/extract_required_bindings.py), embedded so that the server needs no data files at run
// time.
// CMake puts data/fhir/definitions on the include path, which the assembler also searches for
// .incbin, and lists the files as OBJECT_DEPENDS so that editing them rebuilds this object.

    .section .rodata
    .balign 64
    .global medulla_fhir_profiles_resources_start
    .global medulla_fhir_profiles_resources_end
medulla_fhir_profiles_resources_start:
    .incbin "profiles-resources.json"
medulla_fhir_profiles_resources_end:
    .byte 0

    .balign 64
    .global medulla_fhir_profiles_types_start
    .global medulla_fhir_profiles_types_end
medulla_fhir_profiles_types_start:
    .incbin "profiles-types.json"
medulla_fhir_profiles_types_end:
    .byte 0

// The value sets of required bindings (tools/extract_required_bindings.py).
    .balign 64
    .global medulla_fhir_required_bindings_start
    .global medulla_fhir_required_bindings_end
medulla_fhir_required_bindings_start:
    .incbin "required-bindings.json"
medulla_fhir_required_bindings_end:
    .byte 0

// No executable stack.
    .section .note.GNU-stack,"",@progbits
