"""Medical imaging: image types (``types``), pixel checks and Pillow set-up (``pixels``), PNG/JPEG
decoding and normalisation (``decode``), DICOM (``dicom``), the model and its one ``predict_image``
used by the route and the S3 scorer (``model``), occlusion saliency (``saliency``), uploads
(``batch``) and DICOM de-identification (``deid``: PS3.15 Annex E basic profile)."""
