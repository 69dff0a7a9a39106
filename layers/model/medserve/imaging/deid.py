"""DICOM de-identification: PS3.15 Annex E, Basic Application Level Confidentiality Profile, with
the Retain Longitudinal Temporal Information with Modified Dates Option. pydicom only.

Contract of :meth:`DicomDeidentifier.deidentify` (one call per file; one deidentifier per batch):

* every attribute of :data:`RULES` (the identifying attributes of PS3.15 Table E.1-1, written as
  data with the profile's action code) is removed (X), emptied (Z), given a dummy value (D), given
  a new UID (U) or kept (K), wherever it occurs, sequences included. Where the table offers a
  choice (``X/Z``, ``X/Z/D`` ...) the row says which was taken and the comment why;
* beyond the table, safety nets run on every element the table does not name: private elements
  (odd groups) are removed, the profile's default (Table E.1-1 row "Private attributes", X);
  every person name (PN) is emptied; every element of unknown VR (UN: a public tag this pydicom
  does not know, so its content cannot be judged) is removed; every UID that is not one DICOM
  defines (``1.2.840.10008.*``) or a class of things (``*ClassUID``) is replaced. Overlays (60xx,
  with their data and comments), curves (50xx) and group lengths go too; the 128-byte preamble (free
  space any writer may fill) is zeroed;
* UIDs: one map per deidentifier. The same input UID gets the same new UID in every file of the
  batch (a study's files keep their study, series and references), and the new UID is a SHA-512 of
  the old one and a random salt drawn for the batch (``pydicom.uid.generate_uid(entropy_srcs=...)``),
  so without the salt, which is never stored or output, it cannot be traced back;
* dates: one offset per patient per batch (a random whole number of days, 1 to 3,652 into the
  past, keyed on the input's patient ID and name, never output). Every DA and the date part of
  every DT kept is moved by it, so intervals (follow-ups, ages at exam) are exact. Because the
  offset is whole days, times of day (TM, the time part of DT) do not change: a time without its
  date identifies nobody, and a sub-day offset could not move an unpaired Date and Time by the
  same amount (a Study Date without its Study Time would drift a day against it);
* ``PatientIdentityRemoved = YES``, ``DeidentificationMethod`` and
  ``DeidentificationMethodCodeSequence`` (DCM 113100 and 113107) are added to any earlier values,
  ``LongitudinalTemporalInformationModified = MODIFIED``;
* pixel data are never touched: the same bytes, transfer syntax and encapsulation leave;
* burned-in text cannot be proven absent from pixels. :class:`BurnedInRisk` says when it is
  likely (``BurnedInAnnotation`` YES or not stated, modalities and secondary captures that burn
  text in, ``RecognizableVisualFeatures`` YES); it is a warning, nothing is removed from pixels.

Refused: bytes that are not a DICOM Part 10 file, and ones pydicom cannot parse or write back
(422). pydicom's warnings and log lines (which quote element values) are silenced throughout.

Why not the ``deid`` package: it pulls matplotlib (tens of MB in the layer) for its pixel
cleaner, which this profile does not apply, and expresses the table in its own recipe language;
the profile is a table and a walk over the dataset, which pydicom already gives.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import secrets
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from medserve import __version__
from medserve.errors import InvalidInput, MedserveError
from medserve.imaging.dicom import configure_pydicom

if TYPE_CHECKING:
    from pydicom.dataelem import DataElement
    from pydicom.dataset import Dataset

__all__ = [
    "BURN_IN_MODALITIES",
    "DEID_MODALITY",
    "RULES",
    "BurnedInRisk",
    "DeidentifiedDicom",
    "DicomDeidentifier",
    "Rule",
    "deidentify_batch",
    "deidentify_dicom",
]

Action = Literal["X", "Z", "D", "U", "K", "C"]

# The S3 trigger's "modality": uploads/imaging-deid/<path> -> results/imaging-deid/<path> (+ .json).
DEID_MODALITY = "imaging-deid"


@dataclass(frozen=True)
class Rule:
    """One row of PS3.15 Table E.1-1: the profile's code and the action taken here.

    ``profile`` is the Basic Profile column verbatim. ``action`` resolves it: X remove, Z empty,
    D dummy value, U new UID, K keep (sequences: walked, their contents de-identified), C keep
    with dates shifted (the "Retain Longitudinal Temporal Information with Modified Dates" column).
    Where the profile offers X/Z, Z is taken (keeps a Type 2 attribute present and empty, which
    every IOD accepts); X/D or X/Z/D on a date or time is C under the option."""

    tag: int
    keyword: str
    profile: str
    action: Action


# PS3.15 2024e Annex E Table E.1-1 "Application Level Confidentiality Profile Attributes", the
# rows for attributes that identify a patient, a person, a place, a device or an instance, or that
# hold free text. Columns: tag, keyword, Basic Profile code, action (see Rule).
_TABLE: tuple[tuple[int, str, str, Action], ...] = (
    # --- the patient
    (0x00100010, "PatientName", "Z", "Z"),
    (0x00100020, "PatientID", "Z", "Z"),
    (0x00100021, "IssuerOfPatientID", "X", "X"),
    (0x00100022, "TypeOfPatientID", "X", "X"),
    (0x00100024, "IssuerOfPatientIDQualifiersSequence", "X", "X"),
    (0x00100030, "PatientBirthDate", "Z", "Z"),
    (0x00100032, "PatientBirthTime", "X", "X"),
    (0x00100033, "PatientBirthDateInAlternativeCalendar", "X", "X"),
    (0x00100034, "PatientDeathDateInAlternativeCalendar", "X", "X"),
    (0x00100035, "PatientAlternativeCalendar", "X", "X"),
    (0x00100040, "PatientSex", "Z", "Z"),
    (0x00100050, "PatientInsurancePlanCodeSequence", "X", "X"),
    (0x00100101, "PatientPrimaryLanguageCodeSequence", "X", "X"),
    (0x00100102, "PatientPrimaryLanguageModifierCodeSequence", "X", "X"),
    (0x00101000, "OtherPatientIDs", "X", "X"),
    (0x00101001, "OtherPatientNames", "X", "X"),
    (0x00101002, "OtherPatientIDsSequence", "X", "X"),
    (0x00101005, "PatientBirthName", "X", "X"),
    (0x00101010, "PatientAge", "X", "X"),
    (0x00101020, "PatientSize", "X", "X"),
    (0x00101030, "PatientWeight", "X", "X"),
    (0x00101040, "PatientAddress", "X", "X"),
    (0x00101050, "InsurancePlanIdentification", "X", "X"),
    (0x00101060, "PatientMotherBirthName", "X", "X"),
    (0x00101080, "MilitaryRank", "X", "X"),
    (0x00101081, "BranchOfService", "X", "X"),
    (0x00101090, "MedicalRecordLocator", "X", "X"),
    (0x00102000, "MedicalAlerts", "X", "X"),
    (0x00102110, "Allergies", "X", "X"),
    (0x00102150, "CountryOfResidence", "X", "X"),
    (0x00102152, "RegionOfResidence", "X", "X"),
    (0x00102154, "PatientTelephoneNumbers", "X", "X"),
    (0x00102155, "PatientTelecomInformation", "X", "X"),
    (0x00102160, "EthnicGroup", "X", "X"),
    (0x00102180, "Occupation", "X", "X"),
    (0x001021A0, "SmokingStatus", "X", "X"),
    (0x001021B0, "AdditionalPatientHistory", "X", "X"),
    (0x001021C0, "PregnancyStatus", "X", "X"),
    (0x001021D0, "LastMenstrualDate", "X", "X"),
    (0x001021F0, "PatientReligiousPreference", "X", "X"),
    (0x00102203, "PatientSexNeutered", "X/Z", "Z"),
    (0x00102297, "ResponsiblePerson", "X", "X"),
    (0x00102299, "ResponsibleOrganization", "X", "X"),
    (0x00104000, "PatientComments", "X", "X"),
    (0x00081120, "ReferencedPatientSequence", "X", "X"),
    (0x00101100, "ReferencedPatientPhotoSequence", "X", "X"),
    (0x00380010, "AdmissionID", "X", "X"),
    (0x00380011, "IssuerOfAdmissionID", "X", "X"),
    (0x00380014, "IssuerOfAdmissionIDSequence", "X", "X"),
    (0x00380040, "DischargeDiagnosisDescription", "X", "X"),
    (0x00380050, "SpecialNeeds", "X", "X"),
    (0x00380060, "ServiceEpisodeID", "X", "X"),
    (0x00380061, "IssuerOfServiceEpisodeID", "X", "X"),
    (0x00380062, "ServiceEpisodeDescription", "X", "X"),
    (0x00380300, "CurrentPatientLocation", "X", "X"),
    (0x00380400, "PatientInstitutionResidence", "X", "X"),
    (0x00380500, "PatientState", "X", "X"),
    (0x00384000, "VisitComments", "X", "X"),
    (0x00401004, "PatientTransportArrangements", "X", "X"),
    (0x00403001, "ConfidentialityConstraintOnPatientDataDescription", "X", "X"),
    # --- the study, its request and its order
    (0x00080050, "AccessionNumber", "Z", "Z"),
    (0x00200010, "StudyID", "Z", "Z"),
    (0x00081030, "StudyDescription", "X", "X"),
    (0x0008103E, "SeriesDescription", "X", "X"),
    (0x00081080, "AdmittingDiagnosesDescription", "X", "X"),
    (0x00081084, "AdmittingDiagnosesCodeSequence", "X", "X"),
    (0x00081110, "ReferencedStudySequence", "X/Z", "Z"),
    (0x00081111, "ReferencedPerformedProcedureStepSequence", "X/Z/D", "Z"),
    (0x00082111, "DerivationDescription", "X", "X"),
    (0x00180010, "ContrastBolusAgent", "Z/D", "Z"),
    (0x00181030, "ProtocolName", "X/D", "X"),
    (0x00181400, "AcquisitionDeviceProcessingDescription", "X/D", "X"),
    (0x00184000, "AcquisitionComments", "X", "X"),
    (0x00189424, "AcquisitionProtocolDescription", "X", "X"),
    (0x0018A003, "ContributionDescription", "X", "X"),
    (0x00204000, "ImageComments", "X", "X"),
    (0x00209158, "FrameComments", "X", "X"),
    (0x00284000, "ImagePresentationComments", "X", "X"),
    (0x00320012, "StudyIDIssuer", "X", "X"),
    (0x00321020, "ScheduledStudyLocation", "X", "X"),
    (0x00321021, "ScheduledStudyLocationAETitle", "X", "X"),
    (0x00321030, "ReasonForStudy", "X", "X"),
    (0x00321032, "RequestingPhysician", "X", "X"),
    (0x00321033, "RequestingService", "X", "X"),
    (0x00321060, "RequestedProcedureDescription", "X/Z", "Z"),
    (0x00321070, "RequestedContrastAgent", "X", "X"),
    (0x00324000, "StudyComments", "X", "X"),
    (0x00400275, "RequestAttributesSequence", "X", "X"),
    (0x00400555, "AcquisitionContextSequence", "X", "X"),
    (0x00401001, "RequestedProcedureID", "X", "X"),
    (0x00401005, "RequestedProcedureLocation", "X", "X"),
    (0x00401010, "NamesOfIntendedRecipientsOfResults", "X", "X"),
    (0x00401011, "IntendedRecipientsOfResultsIdentificationSequence", "X", "X"),
    (0x00401400, "RequestedProcedureComments", "X", "X"),
    (0x00402001, "ReasonForTheImagingServiceRequest", "X", "X"),
    (0x00402008, "OrderEnteredBy", "X", "X"),
    (0x00402009, "OrderEntererLocation", "X", "X"),
    (0x00402010, "OrderCallbackPhoneNumber", "X", "X"),
    (0x00402016, "PlacerOrderNumberImagingServiceRequest", "Z", "Z"),
    (0x00402017, "FillerOrderNumberImagingServiceRequest", "Z", "Z"),
    (0x00402400, "ImagingServiceRequestComments", "X", "X"),
    (0x00401002, "ReasonForTheRequestedProcedure", "X", "X"),
    (0x00084000, "IdentifyingComments", "X", "X"),
    (0x00400551, "SpecimenIdentifier", "X", "X"),
    (0x00880904, "TopicTitle", "X", "X"),
    (0x00880906, "TopicSubject", "X", "X"),
    (0x00880910, "TopicAuthor", "X", "X"),
    (0x00880912, "TopicKeywords", "X", "X"),
    # RT labels and names are typed by staff and often carry the patient's name
    (0x30060002, "StructureSetLabel", "D", "D"),
    (0x30060004, "StructureSetName", "X", "X"),
    (0x30060006, "StructureSetDescription", "X", "X"),
    (0x300A0002, "RTPlanLabel", "D", "D"),
    (0x300A0003, "RTPlanName", "X", "X"),
    (0x300A0004, "RTPlanDescription", "X", "X"),
    (0x300E0008, "ReviewerName", "X/Z", "Z"),
    # --- procedure steps (scheduled and performed)
    (0x00400001, "ScheduledStationAETitle", "X", "X"),
    (0x00400002, "ScheduledProcedureStepStartDate", "X", "X"),
    (0x00400003, "ScheduledProcedureStepStartTime", "X", "X"),
    (0x00400004, "ScheduledProcedureStepEndDate", "X", "X"),
    (0x00400005, "ScheduledProcedureStepEndTime", "X", "X"),
    (0x00400006, "ScheduledPerformingPhysicianName", "X", "X"),
    (0x00400007, "ScheduledProcedureStepDescription", "X", "X"),
    (0x0040000B, "ScheduledPerformingPhysicianIdentificationSequence", "X", "X"),
    (0x00400010, "ScheduledStationName", "X", "X"),
    (0x00400011, "ScheduledProcedureStepLocation", "X", "X"),
    (0x00400012, "PreMedication", "X", "X"),
    (0x00400241, "PerformedStationAETitle", "X", "X"),
    (0x00400242, "PerformedStationName", "X", "X"),
    (0x00400243, "PerformedLocation", "X", "X"),
    (0x00400244, "PerformedProcedureStepStartDate", "X", "X"),
    (0x00400245, "PerformedProcedureStepStartTime", "X", "X"),
    (0x00400250, "PerformedProcedureStepEndDate", "X", "X"),
    (0x00400251, "PerformedProcedureStepEndTime", "X", "X"),
    (0x00400253, "PerformedProcedureStepID", "X", "X"),
    (0x00400254, "PerformedProcedureStepDescription", "X", "X"),
    (0x00400280, "CommentsOnThePerformedProcedureStep", "X", "X"),
    # --- people: physicians, operators, observers, authors
    (0x00080090, "ReferringPhysicianName", "Z", "Z"),
    (0x00080092, "ReferringPhysicianAddress", "X", "X"),
    (0x0008009C, "ConsultingPhysicianName", "Z", "Z"),
    (0x0008009D, "ConsultingPhysicianIdentificationSequence", "X", "X"),
    (0x00080094, "ReferringPhysicianTelephoneNumbers", "X", "X"),
    (0x00080096, "ReferringPhysicianIdentificationSequence", "X", "X"),
    (0x00081048, "PhysiciansOfRecord", "X", "X"),
    (0x00081049, "PhysiciansOfRecordIdentificationSequence", "X", "X"),
    (0x00081050, "PerformingPhysicianName", "X", "X"),
    (0x00081052, "PerformingPhysicianIdentificationSequence", "X", "X"),
    (0x00081060, "NameOfPhysiciansReadingStudy", "X", "X"),
    (0x00081062, "PhysiciansReadingStudyIdentificationSequence", "X", "X"),
    (0x00081070, "OperatorsName", "X/Z/D", "Z"),
    (0x00081072, "OperatorIdentificationSequence", "X/D", "X"),
    (0x00404037, "HumanPerformerName", "X", "X"),
    (0x00404036, "HumanPerformerOrganization", "X", "X"),
    (0x00401101, "PersonIdentificationCodeSequence", "D", "Z"),  # D on a sequence: emptied
    (0x00401102, "PersonAddress", "X", "X"),
    (0x00401103, "PersonTelephoneNumbers", "X", "X"),
    (0x0040A027, "VerifyingOrganization", "X", "X"),
    (0x0040A073, "VerifyingObserverSequence", "D", "Z"),
    (0x0040A075, "VerifyingObserverName", "D", "D"),
    (0x0040A078, "AuthorObserverSequence", "X", "X"),
    (0x0040A07A, "ParticipantSequence", "X", "X"),
    (0x0040A07C, "CustodialOrganizationSequence", "X", "X"),
    (0x0040A088, "VerifyingObserverIdentificationCodeSequence", "Z", "Z"),
    (0x0040A123, "PersonName", "D", "D"),
    (0x00700084, "ContentCreatorName", "Z", "Z"),
    (0x00700086, "ContentCreatorIdentificationCodeSequence", "X", "X"),
    (0x30060026, "ROIName", "Z", "Z"),
    (0x30060028, "ROIDescription", "X", "X"),
    (0x300600A6, "ROIInterpreter", "Z", "Z"),
    (0x40000010, "Arbitrary", "X", "X"),
    (0x40004000, "TextComments", "X", "X"),
    # --- places and devices
    (0x00080080, "InstitutionName", "X/Z/D", "Z"),
    (0x00080081, "InstitutionAddress", "X", "X"),
    (0x00080082, "InstitutionCodeSequence", "X/Z/D", "Z"),
    (0x00081040, "InstitutionalDepartmentName", "X", "X"),
    (0x00081041, "InstitutionalDepartmentTypeCodeSequence", "X", "X"),
    (0x00081010, "StationName", "X/Z/D", "Z"),
    (0x00181000, "DeviceSerialNumber", "X/Z/D", "Z"),
    (0x00181002, "DeviceUID", "U", "U"),
    (0x00181004, "PlateID", "X", "X"),
    (0x00181005, "GeneratorID", "X", "X"),
    (0x00181007, "CassetteID", "X", "X"),
    (0x00181008, "GantryID", "X", "X"),
    (0x0018700A, "DetectorID", "X/D", "X"),
    (0x00189367, "XRaySourceID", "D", "D"),
    (0x00189371, "XRayDetectorID", "D", "D"),
    (0x00189373, "XRayDetectorLabel", "X", "X"),
    (0x00203401, "ModifyingDeviceID", "X", "X"),
    (0x00203404, "ModifyingDeviceManufacturer", "X", "X"),
    (0x00203406, "ModifiedImageDescription", "X", "X"),
    (0x00181010, "SecondaryCaptureDeviceID", "X", "X"),
    (0x00181016, "SecondaryCaptureDeviceManufacturer", "X", "X"),
    (0x00181018, "SecondaryCaptureDeviceManufacturerModelName", "X", "X"),
    (0x00181019, "SecondaryCaptureDeviceSoftwareVersions", "X", "X"),
    (0x00500020, "DeviceDescription", "X", "X"),
    (0x0050001B, "ContainerComponentID", "X", "X"),
    (0x00080201, "TimezoneOffsetFromUTC", "X", "X"),
    # --- instances: UIDs (U; the catch-all for UIDs is in _default)
    (0x00080014, "InstanceCreatorUID", "U", "U"),
    (0x00080018, "SOPInstanceUID", "U", "U"),
    (0x00080058, "FailedSOPInstanceUIDList", "U", "U"),
    (0x00081155, "ReferencedSOPInstanceUID", "U", "U"),
    (0x00081195, "TransactionUID", "U", "U"),
    (0x00083010, "IrradiationEventUID", "U", "U"),
    (0x0020000D, "StudyInstanceUID", "U", "U"),
    (0x0020000E, "SeriesInstanceUID", "U", "U"),
    (0x00200052, "FrameOfReferenceUID", "U", "U"),
    (0x00200200, "SynchronizationFrameOfReferenceUID", "U", "U"),
    (0x00209161, "ConcatenationUID", "U", "U"),
    (0x00209164, "DimensionOrganizationUID", "U", "U"),
    (0x00281199, "PaletteColorLookupTableUID", "U", "U"),
    (0x00281214, "LargePaletteColorLookupTableUID", "U", "U"),
    (0x00041511, "ReferencedSOPInstanceUIDInFile", "U", "U"),
    (0x0040A124, "UID", "U", "U"),
    (0x0040A171, "ObservationUID", "U", "U"),
    (0x00620021, "TrackingUID", "U", "U"),
    (0x0070031A, "FiducialUID", "U", "U"),
    (0x00400554, "SpecimenUID", "U", "U"),
    (0x00880140, "StorageMediaFileSetUID", "U", "U"),
    (0x30060024, "ReferencedFrameOfReferenceUID", "U", "U"),
    (0x300600C2, "RelatedFrameOfReferenceUID", "U", "U"),
    (0x300A0013, "DoseReferenceUID", "U", "U"),
    # References to other instances: "X/Z/U*" keeps the sequence with its UIDs replaced (U*).
    (0x00081140, "ReferencedImageSequence", "X/Z/U*", "K"),
    (0x00082112, "SourceImageSequence", "X/Z/U*", "K"),
    # --- whole structures that can carry anything
    (0x0040A730, "ContentSequence", "X", "X"),  # SR content: Clean Structured Content not applied
    (0x04000561, "OriginalAttributesSequence", "X", "X"),  # the very values a modifier replaced
    (0x00880200, "IconImageSequence", "X", "X"),  # a thumbnail: burned-in text in small
    (0x00700001, "GraphicAnnotationSequence", "D", "Z"),  # presentation-state text: emptied
    (0xFFFAFFFA, "DigitalSignaturesSequence", "X", "X"),
    (0xFFFCFFFC, "DataSetTrailingPadding", "X", "X"),
    # --- dates and times: the profile's X/Z/D, kept and shifted under the option (C)
    (0x00080012, "InstanceCreationDate", "X/D", "C"),
    (0x00080013, "InstanceCreationTime", "X/Z/D", "C"),
    (0x00080020, "StudyDate", "Z", "C"),
    (0x00080021, "SeriesDate", "X/D", "C"),
    (0x00080022, "AcquisitionDate", "X/Z", "C"),
    (0x00080023, "ContentDate", "Z/D", "C"),
    (0x00080024, "OverlayDate", "X", "C"),
    (0x00080025, "CurveDate", "X", "C"),
    (0x0008002A, "AcquisitionDateTime", "X/D", "C"),
    (0x00080030, "StudyTime", "Z", "C"),
    (0x00080031, "SeriesTime", "X/D", "C"),
    (0x00080032, "AcquisitionTime", "X/Z", "C"),
    (0x00080033, "ContentTime", "Z/D", "C"),
    (0x00181012, "DateOfSecondaryCapture", "X", "C"),
    (0x00181014, "TimeOfSecondaryCapture", "X", "C"),
    (0x00181200, "DateOfLastCalibration", "X", "C"),
    (0x00181201, "TimeOfLastCalibration", "X", "C"),
    (0x00189074, "FrameAcquisitionDateTime", "X/D", "C"),
    (0x00189151, "FrameReferenceDateTime", "X/D", "C"),
    (0x0040A030, "VerificationDateTime", "D", "C"),
    (0x0040A032, "ObservationDateTime", "X/D", "C"),
    (0x0040A120, "DateTime", "D", "C"),
    (0x0040A121, "Date", "D", "C"),
    (0x0040A122, "Time", "D", "C"),
    (0x00080015, "InstanceCoercionDateTime", "X", "C"),
    (0x00320032, "StudyVerifiedDate", "X", "C"),
    (0x00320033, "StudyVerifiedTime", "X", "C"),
    (0x00320034, "StudyReadDate", "X", "C"),
    (0x00320035, "StudyReadTime", "X", "C"),
    (0x00321000, "ScheduledStudyStartDate", "X", "C"),
    (0x00321001, "ScheduledStudyStartTime", "X", "C"),
    (0x00321010, "ScheduledStudyStopDate", "X", "C"),
    (0x00321011, "ScheduledStudyStopTime", "X", "C"),
    (0x00321040, "StudyArrivalDate", "X", "C"),
    (0x00321041, "StudyArrivalTime", "X", "C"),
    (0x00321050, "StudyCompletionDate", "X", "C"),
    (0x00321051, "StudyCompletionTime", "X", "C"),
    (0x00380020, "AdmittingDate", "X", "C"),
    (0x00380021, "AdmittingTime", "X", "C"),
    (0x00380030, "DischargeDate", "X", "C"),
    (0x00380032, "DischargeTime", "X", "C"),
    (0x00402004, "IssueDateOfImagingServiceRequest", "X", "C"),
    (0x00402005, "IssueTimeOfImagingServiceRequest", "X", "C"),
    (0x30060008, "StructureSetDate", "X", "C"),
    (0x30060009, "StructureSetTime", "X", "C"),
    (0x300A0006, "RTPlanDate", "X", "C"),
    (0x300A0007, "RTPlanTime", "X", "C"),
)
RULES: dict[int, Rule] = {
    tag: Rule(tag, keyword, profile, action) for tag, keyword, profile, action in _TABLE
}

# File meta (group 0002) elements naming the sending and receiving sites, or free private data.
_META_REMOVE = (
    0x00020016,
    0x00020017,
    0x00020018,
    0x00020026,
    0x00020027,
    0x00020028,
    0x00020100,
    0x00020102,
)

# Modalities whose pixels usually carry burned-in text (patient name, date, institution on the
# image itself): ultrasound, angiography and fluoroscopy, endoscopy, photographs, microscopy,
# scanned documents and "other" (screenshots). Defined terms of PS3.3 C.7.3.1.1.1.
BURN_IN_MODALITIES = frozenset({"US", "IVUS", "XA", "RF", "ES", "XC", "GM", "SM", "OP", "DOC", "OT", "ECG"})
_SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"  # Secondary Capture Image Storage and its multi-frame kin
_DICOM_ROOT = "1.2.840.10008."  # UIDs DICOM itself defines (SOP classes, syntaxes, coding schemes)

_DUMMY = "ANONYMIZED"  # fits every string VR's length limit (SH and CS: 16, AE: 16)
_MAX_SHIFT_DAYS = 3652  # ten years
_DA = re.compile(r"^(\d{4})\.?(\d{2})\.?(\d{2})$")  # YYYYMMDD, and ACR-NEMA's YYYY.MM.DD
_DT = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(.*)$")  # YYYY[MM[DD]] then time, fraction, UTC offset

METHOD = (
    "DICOM PS3.15 E.1.1 Basic Application Level Confidentiality Profile",
    "Retain Longitudinal Temporal Information with Modified Dates Option",
    f"medserve {__version__}; pixel data not cleaned",
)
# DICOM PS3.16 CID 7050 "De-identification Method" codes (scheme DCM).
METHOD_CODES = (
    ("113100", "Basic Application Confidentiality Profile"),
    ("113107", "Retain Longitudinal Temporal Information Modified Dates Option"),
)


@dataclass(frozen=True)
class BurnedInRisk:
    """Whether text may be burned into the pixels (never removed here), and why."""

    risk: bool
    reasons: tuple[str, ...]

    def header(self) -> str:
        """The ``X-Medserve-Burned-In-Risk`` value: ``yes; reasons=a,b`` or ``no``."""
        return f"yes; reasons={','.join(self.reasons)}" if self.risk else "no"

    @classmethod
    def combined(cls, risks: Iterable[BurnedInRisk]) -> BurnedInRisk:
        """The risk of several files together: any file's reasons, each once, in order."""
        reasons = tuple(dict.fromkeys(r for risk in risks for r in risk.reasons))
        return cls(risk=bool(reasons), reasons=reasons)

    def document(self) -> dict[str, object]:
        return {
            "risk": self.risk,
            "reasons": list(self.reasons),
            "pixels_cleaned": False,  # never claimed: this profile does not touch pixel data
        }


@dataclass
class Counts:
    """What was done, by action (numbers only: never which values)."""

    removed: int = 0
    emptied: int = 0
    dummied: int = 0
    uids_replaced: int = 0
    dates_shifted: int = 0
    private_removed: int = 0


@dataclass(frozen=True)
class DeidentifiedDicom:
    """One de-identified file: its Part 10 bytes and what a caller must know about it."""

    data: bytes
    burned_in: BurnedInRisk
    counts: Counts = field(default_factory=Counts)

    def report(self) -> dict[str, object]:
        """A JSON-ready summary: profile, burned-in risk, counts. No header value of the file."""
        return {
            "profile": {
                "method": list(METHOD),
                "codes": [{"scheme": "DCM", "code": c, "meaning": m} for c, m in METHOD_CODES],
                "uids": "replaced consistently within one request or batch",
                "dates": "shifted by one per-patient offset (not disclosed)",
            },
            "burned_in_risk": self.burned_in.document(),
            "counts": vars(self.counts).copy(),
            "bytes": len(self.data),
        }


class DicomDeidentifier:
    """One batch: files de-identified by one instance share a UID map and per-patient offsets.

    Not thread-safe; not meant to outlive a request or an S3 event (the salt and offsets are what
    keep new UIDs and dates unlinkable to the old ones, and they live only here)."""

    def __init__(self) -> None:
        self._salt = secrets.token_hex(32)
        self._uids: dict[str, str] = {}
        self._offsets: dict[str, dt.timedelta] = {}

    def __repr__(self) -> str:
        return f"DicomDeidentifier(uids={len(self._uids)}, patients={len(self._offsets)})"  # never the salt

    def deidentify(self, data: bytes) -> DeidentifiedDicom:
        """De-identify one DICOM Part 10 file (see the module docstring); 422 when it is not one."""
        configure_pydicom()
        from pydicom import dcmread
        from pydicom.errors import InvalidDicomError

        # Recorded, never shown: pydicom warnings may quote element values.
        with warnings.catch_warnings(record=True) as heard:
            warnings.simplefilter("always")
            try:
                ds = dcmread(io.BytesIO(data))
            except InvalidDicomError as e:
                raise InvalidInput("the file is not a DICOM Part 10 file") from e
            except Exception as e:  # untrusted bytes: any parser failure is the input's fault
                raise InvalidInput("the DICOM file is truncated or corrupt and cannot be parsed") from e
            _check_complete(ds, heard)
            try:
                return self._deidentify(ds)
            except MedserveError:
                raise
            except Exception as e:
                # dcmread defers element conversion: a corrupt element fails when first touched.
                raise InvalidInput("the DICOM file is truncated or corrupt and cannot be parsed") from e

    def _deidentify(self, ds: Dataset) -> DeidentifiedDicom:
        from pydicom.dataset import Dataset

        risk = burned_in_risk(ds)
        offset = self._offset(ds)
        counts = Counts()
        pixels = _pixel_bytes(ds)
        self._clean(ds, offset, counts)
        meta = getattr(ds, "file_meta", None)
        if meta is not None:
            for tag in _META_REMOVE:
                if tag in meta:
                    del meta[tag]
                    counts.removed += 1
            # The meta's instance must be the dataset's (already new); a file with either blank
            # gets it from the other, or is refused by the writer below (422).
            if ds.get("SOPInstanceUID"):
                meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            elif meta.get("MediaStorageSOPInstanceUID"):
                meta.MediaStorageSOPInstanceUID = self._uid(str(meta.MediaStorageSOPInstanceUID))
            if not meta.get("MediaStorageSOPClassUID") and ds.get("SOPClassUID"):
                meta.MediaStorageSOPClassUID = ds.SOPClassUID
        ds.preamble = b"\x00" * 128  # free space: a writer may have put anything there

        ds.PatientIdentityRemoved = "YES"
        ds.LongitudinalTemporalInformationModified = "MODIFIED"
        earlier = [str(v) for v in _values(ds.get("DeidentificationMethod"))]
        ds.DeidentificationMethod = [*earlier, *(m for m in METHOD if m not in earlier)]
        items = list(ds.get("DeidentificationMethodCodeSequence") or [])
        have = {(str(i.get("CodingSchemeDesignator", "")), str(i.get("CodeValue", ""))) for i in items}
        for code, meaning in METHOD_CODES:
            if ("DCM", code) not in have:
                item = Dataset()
                item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = code, "DCM", meaning
                items.append(item)
        ds.DeidentificationMethodCodeSequence = items

        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        if _pixel_bytes(ds) != pixels:  # cannot happen unless pydicom changed: refuse, never alter pixels
            raise InvalidInput("the DICOM pixel data could not be kept unchanged")
        return DeidentifiedDicom(data=buffer.getvalue(), burned_in=risk, counts=counts)

    # --- the walk

    def _clean(self, ds: Dataset, offset: dt.timedelta, counts: Counts) -> None:
        for tag in list(ds.keys()):
            elem = ds[tag]
            if tag.is_private:
                del ds[tag]
                counts.private_removed += 1
                continue
            action = _action(elem)
            if action == "X":
                del ds[tag]
                counts.removed += 1
            elif action == "Z":
                elem.value = [] if elem.VR == "SQ" else ""
                counts.emptied += 1
            elif action == "D":
                _dummy(elem, counts)
            elif action == "U":
                values = [self._uid(str(v)) for v in _values(elem.value)]
                elem.value = values[0] if len(values) == 1 else values
                counts.uids_replaced += len(values)
            elif action == "C":
                _shift(elem, offset, counts)
            elif elem.VR == "SQ":  # K: keep the sequence, de-identify what it holds
                for item in elem.value:
                    self._clean(item, offset, counts)

    def _uid(self, old: str) -> str:
        from pydicom.uid import generate_uid

        new = self._uids.get(old)
        if new is None:
            # Deterministic within the batch (same old UID, same salt), irreversible without the salt.
            new = self._uids[old] = str(generate_uid(entropy_srcs=[self._salt, old]))
        return new

    def _offset(self, ds: Dataset) -> dt.timedelta:
        """The patient's date offset in this batch, drawn at random on first sight of the patient."""
        who = "\x00".join(
            str(ds.get(k) or "").strip().upper() for k in ("IssuerOfPatientID", "PatientID", "PatientName")
        )
        if who not in self._offsets:
            self._offsets[who] = -dt.timedelta(days=1 + secrets.randbelow(_MAX_SHIFT_DAYS))
        return self._offsets[who]


def deidentify_dicom(data: bytes) -> DeidentifiedDicom:
    """One file, one batch (a request of its own)."""
    return DicomDeidentifier().deidentify(data)


def deidentify_batch(files: Iterable[bytes]) -> list[DeidentifiedDicom]:
    """Several files of one batch: UIDs and per-patient date offsets consistent across them."""
    session = DicomDeidentifier()
    return [session.deidentify(data) for data in files]


def burned_in_risk(ds: Dataset) -> BurnedInRisk:
    """Why text may be burned into this file's pixels (read before anything is removed)."""
    if not any(t in ds for t in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        return BurnedInRisk(risk=False, reasons=())
    reasons = []
    stated = str(ds.get("BurnedInAnnotation") or "").strip().upper()
    if stated == "YES":
        reasons.append("burned-in-annotation-yes")
    elif stated != "NO":
        reasons.append("burned-in-annotation-not-stated")
    modality = str(ds.get("Modality") or "").strip().upper()
    if modality in BURN_IN_MODALITIES:
        reasons.append(f"modality-{modality.lower()}")
    if str(ds.get("SOPClassUID") or "").startswith(_SECONDARY_CAPTURE) or "ConversionType" in ds:
        reasons.append("secondary-capture")
    if str(ds.get("RecognizableVisualFeatures") or "").strip().upper() == "YES":
        reasons.append("recognizable-visual-features")
    return BurnedInRisk(risk=bool(reasons), reasons=tuple(reasons))


def _action(elem: DataElement) -> Action:
    rule = RULES.get(int(elem.tag))
    if rule is not None:
        return rule.action
    group, element = elem.tag.group, elem.tag.element
    if element == 0:  # group lengths: wrong once anything is removed, and optional
        return "X"
    if (group & 0xFF00) in (0x5000, 0x6000) and not group & 1:
        # Curves, and overlays (Table E.1-1: Overlay Data and Comments X): drawn or typed
        # annotations. The whole overlay goes, its description and geometry with its data (an
        # overlay without data would not conform).
        return "X"
    if elem.VR == "PN":
        return "Z"  # a person's name the table does not list (a safety net beyond the table)
    if elem.VR == "UN":
        return "X"  # a public element this dictionary does not know: its bytes cannot be judged
    if elem.VR == "UI" and elem.value and not elem.keyword.endswith("ClassUID"):
        if any(not str(v).startswith(_DICOM_ROOT) for v in _values(elem.value)):
            return "U"  # an instance, study, device ... UID the table does not list
    if elem.VR in ("DA", "DT"):
        return "C"  # under the option every date is shifted, listed or not
    return "K"


def _check_complete(ds: Dataset, heard: list[warnings.WarningMessage]) -> None:
    """422 for a file that ends early. pydicom reads a truncated file without an error: it stops at
    the cut and keeps the partial value, so the signs are looked for here."""
    truncated = InvalidInput("the DICOM file is truncated: it ends inside an element")
    for raw in ds._dict.values():  # not yet converted: the raw lengths are still there
        length, value = getattr(raw, "length", None), getattr(raw, "value", None)
        if isinstance(value, bytes) and length not in (None, 0xFFFFFFFF) and len(value) != length:
            raise truncated
    if any(str(w.message).startswith("End of file reached") for w in heard):
        raise truncated  # an undefined-length element (encapsulated pixel data) cut short
    sop_class = ds.get("SOPClassUID")
    if sop_class is not None and str(getattr(sop_class, "name", "")).endswith("Image Storage"):
        if not any(t in ds for t in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
            raise InvalidInput("the DICOM file is an image without pixel data: it is truncated")


def _values(value: object) -> list[object]:
    """An element's values as a list (pydicom gives a single value or a MultiValue)."""
    if value is None or value == "":
        return []
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        return [value]
    return list(value)


def _dummy(elem: DataElement, counts: Counts) -> None:
    """D: a value of the element's VR that is not the original."""
    if elem.VR == "SQ":
        elem.value = []
    elif elem.VR in ("DA", "DT", "TM"):
        elem.value = ""  # not reached for the table's dates (C); an unlisted D date is emptied
    elif elem.VR in ("IS", "DS"):
        elem.value = "0"
    elif elem.VR in ("US", "SS", "UL", "SL", "UV", "SV", "FL", "FD"):
        elem.value = 0
    elif elem.VR in ("PN", "LO", "SH", "CS", "AE", "LT", "ST", "UT", "UC"):
        elem.value = _DUMMY
    else:
        elem.value = b"" if elem.VR.startswith("O") or elem.VR == "UN" else ""
    counts.dummied += 1


def _shift(elem: DataElement, offset: dt.timedelta, counts: Counts) -> None:
    """C: a DA or DT moved by the patient's offset; a TM kept (the offset is whole days).

    A value that does not parse is emptied: what cannot be shifted cannot be kept."""
    if elem.VR not in ("DA", "DT") or not elem.value:
        return
    shifted = []
    for value in _values(elem.value):
        text = str(value).strip()
        new = _shift_da(text, offset) if elem.VR == "DA" else _shift_dt(text, offset)
        if new is None:
            elem.value = ""
            counts.emptied += 1
            return
        shifted.append(new)
    elem.value = shifted[0] if len(shifted) == 1 else shifted
    counts.dates_shifted += len(shifted)


def _shift_da(text: str, offset: dt.timedelta) -> str | None:
    match = _DA.match(text)
    if not match:
        return None
    try:
        return (dt.date(*map(int, match.groups())) + offset).strftime("%Y%m%d")
    except (ValueError, OverflowError):
        return None


def _shift_dt(text: str, offset: dt.timedelta) -> str | None:
    """The date part of a DT moved; its time, fraction and UTC offset kept as written. A DT of
    year or month precision is moved as its first day and written back at its own precision."""
    match = _DT.match(text)
    if not match:
        return None
    year, month, day, rest = match.groups()
    if rest and (month is None or day is None) and not re.fullmatch(r"[+-]\d{4}", rest):
        return None  # a time after an incomplete date: not a valid DT (a UTC offset may follow)
    try:
        moved = dt.date(int(year), int(month or 1), int(day or 1)) + offset
    except (ValueError, OverflowError):
        return None
    if rest and not re.fullmatch(r"\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?([+-]\d{4})?|[+-]\d{4}", rest):
        return None
    width = 8 if day else 6 if month else 4
    return moved.strftime("%Y%m%d")[:width] + (rest or "")


def _pixel_bytes(ds: Dataset) -> bytes | None:
    for keyword in ("PixelData", "FloatPixelData", "DoubleFloatPixelData"):
        if keyword in ds:
            return bytes(ds[keyword].value)
    return None
