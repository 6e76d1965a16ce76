"""The checker of learners' own exercise files: the checks run on each
function (``checks``), the catalogue of known mistakes that names what is wrong
(``mistakes``), and the report and command (``report``)."""
