// The FHIR R4 Patient CompartmentDefinition (data/fhir/definitions/
// compartmentdefinition-patient.json, as published), embedded so that the server needs no data
// files at run time. CMake puts data/fhir/definitions on the include path for .incbin.

    .section .rodata
    .balign 64
    .global medulla_fhir_patient_compartment_start
    .global medulla_fhir_patient_compartment_end
medulla_fhir_patient_compartment_start:
    .incbin "compartmentdefinition-patient.json"
medulla_fhir_patient_compartment_end:
    .byte 0

// No executable stack.
    .section .note.GNU-stack,"",@progbits
