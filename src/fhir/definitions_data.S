// The stripped FHIR R4 definitions (data/fhir/definitions/, written by
// tools/strip_definitions.py), embedded so that the server needs no data files at run time.
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

// No executable stack.
    .section .note.GNU-stack,"",@progbits
