"""Word lists for de-identification (``medserve.text.deid``): names, places, facility words,
stop words.

Written for medserve (no download): common given names and surnames of the US population across
origins, US cities and a few large cities abroad, and the vocabulary that tells an identifier from
clinical text. Lower-case; matching is case-insensitive unless ``phi`` says otherwise. The lists
also feed the realistic fake values of ``surrogate`` mode.
"""

from __future__ import annotations


def _words(block: str) -> frozenset[str]:
    return frozenset(w.strip().lower() for w in block.split() if w.strip())


def _phrases(block: str) -> frozenset[str]:
    return frozenset(line.strip().lower() for line in block.strip().splitlines() if line.strip())


FIRST_NAMES = _words("""
aaron abdul abdullah abigail abraham ada adam adel adrian adriana agnes ahmad ahmed aiden aisha
alan albert alberto alejandra alejandro alex alexander alexandra alexis alfred alfredo ali alice
alicia alisha allison alma alvin amanda amber amelia amina amir amit amy ana anan anand andre andrea
andres andrew angel angela angelica angelina anil anita ann anna anne annette anthony antonio anya
april arjun arlene armando arnold arthur arturo asha ashley ashok audrey austin ava barbara barry
beatrice becky belinda ben benjamin bernard bernice beth bethany betty beverly bianca bill billy
blake bobby bonnie boris brad bradley brandon brenda brendan brent brett brian brianna bridget
brittany brooke bruce bryan caleb calvin camila candace carl carla carlos carmen carol carole
caroline carolyn carrie casey cassandra catherine cecilia cesar chad chandra charlene charles
charlie charlotte chelsea cheryl chloe chris christian christina christine christopher cindy claire
clara clarence claude claudia clifford clinton cody colin colleen connie connor constance cora craig
crystal curtis cynthia daisy dale dan dana daniel daniela danielle danny darius darlene darnell
darren darryl dave david dawn dean deborah debra deepak delia delores denise dennis derek derrick
desiree destiny devin dhruv diana diane diego dimitri dmitri dolores dominic don donald donna doris
dorothy douglas duane dustin dwayne dylan earl ebony eddie edgar edith edna eduardo edward edwin
eileen elaine eleanor elena eli elijah elizabeth ella ellen elliot eloise elsa emily emma emmanuel
enrique eric erica erik erin ernest esther ethan ethel eugene eva evan evelyn everett fatima felicia
felix fernando florence frances francesca francis francisco frank franklin fred frederick gabriel
gabriela gail ganesh gary gavin gene geneva geoffrey george georgia gerald geraldine gilbert gina
giovanni gladys glen glenda glenn gloria gordon graham gregory guadalupe guillermo gustavo gwen
hailey hana hannah harold harriet harry hassan hazel heather hector heidi helen henry herbert
herman hilda hiroshi holly howard hugo ian ibrahim ida igor imani imran inez ingrid irene iris irma
isaac isabel isabella isaiah ismael ivan jack jackie jacob jacqueline jade jaime jake jamal james
jamie jan jane janelle janet janice jared jasmine jason javier jay jean jeanette jeffrey jenna
jennifer jeremy jerome jerry jesse jessica jesus jill jimmy joan joann joanne joe joel john johnny
jonathan jordan jorge jose joseph josephine joshua joy joyce juan juanita judith judy julia julian julie
juliet june justin kamal karen kari karina karl katherine kathleen kathryn kathy katie kay kayla
keisha keith kelly kelvin ken kenji kenneth kerry kevin kim kimberly kirk kristen kristin kristina
krishna kurt kyle lakisha lamar lana lance larry latasha latoya laura lauren laurie lawrence leah
lee leon leonard leroy leslie lillian lily linda lindsay lisa lloyd logan lois lola lonnie lorena
lorenzo loretta lori lorraine louis louise lucas lucia lucy luis luke lydia lynn mabel mackenzie
madeline madison maggie malik mandy manuel marcia marco marcus margaret margarita maria mariah
marian marie marilyn mario marion marisol marjorie mark marlene marsha marshall martha martin marvin
mary mason mateo matthew maureen maurice max maxine megan mehmet melanie melissa melvin meredith
mia micheal michael michele michelle miguel mikhail mildred miriam mohamed mohammed molly monica
monique morgan muhammad myrna myron nadia nancy naomi natalia natalie natasha nathan nathaniel neil
nelson nicholas nicole nina noah noel nora norma norman nuno olga olivia omar oscar owen pablo
pamela patricia patrick paul paula pauline pedro peggy penelope peter philip phillip phyllis pierre
pooja preeti priya priyanka rachel rafael rahul raj rajesh ralph ramon ramona randall randy raquel
raul ray raymond rebecca regina reginald renee rhonda ricardo richard rick rita robert roberta
roberto robin rodney roger roland ronald rosa rosalind rose rosemary ross roxanne roy ruby rudy
russell ruth ryan sabrina sally salvador samantha samir samuel sandra sanjay santiago sara sarah
saul scott sean sergei sergio seth shane shannon sharon shawn sheila shelby shelly sherry
shirley sidney simon sofia sonia sophia stacey stacy stanley stella stephanie stephen steve steven
sue sunil susan suzanne sylvia tamara tammy tanya tara ted teresa terrence terri terry
thelma theodore theresa thomas tiffany timothy tina todd tom tommy toni tony tracy travis trevor
tricia trisha troy tyler tyrone valerie vanessa vera veronica vicki victor victoria vijay vikram
vincent viola violet virginia vivian wade walter wanda warren wayne wei wendy wesley whitney
william willie wilma winston xavier xin yasmin yolanda yong yusuf yvette yvonne zachary zainab zoe
""")

# Given names by the gender they are most often given to: surrogates keep it ("her husband Harold"
# should not become "her husband Catherine"). Names of neither list get any given name.
FEMALE_NAMES = _words("""
abigail agnes alice amanda amy ana andrea angela anita ann anna anne barbara beatrice betty beverly
brenda brianna brittany carmen carol caroline catherine charlotte cheryl christina christine claire
cynthia dana deborah debra denise diana diane donna dorothy edith elaine eleanor elena elizabeth
ellen emily emma evelyn fatima florence frances gloria grace hannah heather helen irene jacqueline
jane janet janice jean jennifer jessica joan josephine joyce judith julia julie karen katherine
kathleen kayla kelly kimberly laura lauren linda lisa lois lori louise lucy margaret maria marie
marilyn martha mary megan melissa michelle mildred nancy natalie nicole olivia pamela patricia
paula peggy phyllis priya rachel rebecca rita rosa rose ruth samantha sandra sarah sharon shirley
sophia stephanie susan teresa theresa tina valerie victoria virginia wanda yolanda
""")
MALE_NAMES = _words("""
aaron adam ahmed alan albert alexander andrew anthony arthur benjamin bernard bill bobby brandon
brian bruce carl carlos charles christopher daniel david dennis donald douglas earl edward eric
ernest eugene frank fred gary george gerald gregory harold harry henry howard ivan jack jacob james
jason jeffrey jeremy jerry jesse joe john jonathan jose joseph joshua juan justin keith kenneth
kevin larry lawrence louis luis marcus mark martin matthew michael mohammed nathan nicholas omar
patrick paul peter philip ralph raymond richard robert roger ronald roy russell ryan samuel scott
sean stephen steven thomas timothy tony victor walter wayne william
""")

# Given names that are also everyday English words (or months): never a name on their own, only
# with another cue (a title, a surname, a label, a credential).
AMBIGUOUS_FIRST_NAMES = _words("""
april art august autumn bill bob carol chase chip christian dawn destiny eve faith frank gene grace
hope iris ivy jack jade joy june justice kay lance lee lily mark may max miles patience pat penny
ray rich rose ruby rusty sage sandy stone sue summer terry violet will winter woody daisy hazel
jasmine olive pearl amber crystal heather holly robin
""")

SURNAMES = _words("""
abbott acevedo acosta adams aguilar aguirre ahmed akhtar alexander ali allen
alvarado alvarez andersen anderson andrews armstrong arnold ashby atkins austin avery ayala bailey
baker baldwin banerjee banks barber barker barnes barnett barrett barry bartlett barton bates baxter
beck becker bell bennett benson berg berry bishop black blackwell blair blake bolton booker boone
bowen bowman boyd boyle bradford bradley brady brennan brewer bridges briggs brock brooks brown
bryant buchanan burgess burke burns burton bush butler byrd caldwell calhoun callahan cameron
campbell cannon carlson carpenter carr carroll carson carter casey castillo castro chambers
chandler chang chapman chavez chen cho choi christensen chu clark clarke cline cobb cochran cohen
cole coleman collins conley conner contreras conway cook cooper cortez costa cox craig crawford
cross cruz cummings cunningham curtis dalton daniels das davidson davies davis dawson day dean
decker delgado dennis desai diaz dixon dominguez donovan dorsey douglas doyle drake dubois duffy
duncan dunn duran dyer edwards elliott ellis emerson erickson espinoza estrada evans farmer
farrell feldman ferguson fernandez fields figueroa finch fischer fisher fitzgerald fleming fletcher
flores flynn foley ford foster fowler fox francis franco frank franklin frazier freeman fuentes
fuller gallagher gallegos garcia gardner garner garrett garza gibbs gibson gilbert gill glover
goldberg gomez gonzales gonzalez goodman goodwin gordon graham grant graves gray green greene
greer gregory griffin griffith gross guerrero gupta gutierrez guzman hale hall hamilton hammond
hampton hansen hanson hardy harmon harper harrington harris harrison hart harvey hawkins hayes
haynes henderson henry hernandez herrera hess hicks higgins hill hines hodges hoffman hogan holland
holloway holmes holt hopkins horton houston howard howell huang hubbard hudson huff hughes hunt
hunter hussain ibrahim ingram iyer jackson jacobs james jennings jensen jimenez johns johnson
johnston jones jordan joseph joshi kaplan kaur keller kelley kelly kennedy khan kim king kirby klein
knight koch kowalski kramer kumar lambert lane lang larson lawrence lawson le lee leonard
levine levy lewis li lim lin lindsey little liu lloyd logan long lopez love lowe lucas luna lynch
lyons mack madden malone mann manning marsh marshall martin martinez mason mathews matthews maxwell
may mccarthy mccormick mcdaniel mcdonald mcgee mckenzie mckinney mclaughlin mcmahon medina mehta
mejia melendez mendez mendoza meyer meyers miles miller mills miranda mitchell molina montgomery
moody moon moore morales moran moreno morgan morris morrison morton moss mueller muller munoz murphy
murray myers nair nash navarro neal nelson newman newton ng nguyen nichols nicholson nielsen noble
norman norris novak nunez obrien oconnor odonnell oliver olson oneal oneil oneill ortega ortiz
osborne owens pacheco padilla palmer park parker parks parsons patel patterson patton paul payne
pearson pena perez perkins perry peters petersen peterson pham phillips pierce pittman pollard
poole porter potter powell powers pratt price quinn ramirez ramos randall ray reed reese
reeves reid reyes reynolds rhodes rice richards richardson riley rios rivas rivera roberts robertson
robinson robles rodgers rodriguez rogers romero rosales rose ross rossi rowe roy ruiz russell ryan
salazar salinas sanchez sanders sandoval santiago santos saunders schmidt schneider schroeder
schultz schwartz scott sellers shah shapiro sharma sharp shaw shelton shepherd sherman silva simmons
simon simpson sims singh singleton skinner smith snyder soto sparks spencer stanley steele
stephens stevens stewart stone strickland sullivan summers sutton suzuki swanson tanaka tate taylor
terry thomas thompson todd torres tran tucker turner tyler vance vargas vasquez vaughn
vazquez vega velasquez wade wagner walker wall wallace walsh walters walton wang ward warner
warren washington waters watkins watson watts weaver webb weber webster weiss welch wells west
wheeler white wilkerson wilkins williams williamson willis wilson wolfe wong
wood woods wright wu yang yates young yu zhang zhao zimmerman
""")

# Surnames that are everyday English words: a name only next to another cue.
AMBIGUOUS_SURNAMES = _words("""
banks bell berry bishop black brown bush carpenter chance cook cross day dean fields fisher fox
frank gill gray green greene hall hart hill holmes hunt hunter king lane little long love mann marsh
mason may miles moon moss noble park parks pierce porter potter powers price rice rose sharp shaw
stone summers tate wade walker wall ward warren waters watts weaver webb wells west white wood woods
young hope grant major mark norman gross hale page rich strong swift foley
""")

# US cities and towns (the larger ones and county seats commonly seen in notes) and some abroad.
# Names that are everyday words (Mobile, Reading, Independence, Orange, ...) are left out: a
# context rule ("lives in", "moved from", "City, ST") still finds them.
CITIES = _phrases("""
akron
albany
albuquerque
alexandria
allentown
amarillo
anaheim
anchorage
ann arbor
annapolis
arlington
asheville
atlanta
augusta
austin
bakersfield
baltimore
baton rouge
beaumont
bellevue
berkeley
billings
biloxi
binghamton
birmingham
bismarck
bloomington
boise
boston
boulder
bozeman
bridgeport
brockton
bronx
brookline
brooklyn
brownsville
buffalo
burlington
cambridge
camden
canton
cape coral
carson city
cedar rapids
chandler
charleston
charlotte
chattanooga
chesapeake
cheyenne
chicago
chico
chula vista
cincinnati
clarksville
cleveland
columbia
columbus
concord
corpus christi
dallas
danbury
davenport
dayton
dearborn
denver
des moines
detroit
dover
duluth
durham
el paso
elizabeth
erie
eugene
everett
fairbanks
fall river
fargo
fayetteville
flagstaff
flint
fort collins
fort lauderdale
fort myers
fort wayne
fort worth
fremont
fresno
gainesville
galveston
gary
glendale
grand rapids
green bay
greensboro
greenville
hagerstown
hampton
harrisburg
hartford
henderson
hialeah
hilo
honolulu
houston
huntington
huntsville
indianapolis
irvine
ithaca
jackson
jacksonville
jersey city
johnstown
joliet
juneau
kalamazoo
kansas city
kenosha
knoxville
lafayette
lakeland
lancaster
lansing
laredo
las cruces
las vegas
lawrence
lexington
lincoln
little rock
long beach
los angeles
louisville
lowell
lubbock
lynn
macon
madison
manchester
memphis
mesa
miami
milwaukee
minneapolis
missoula
modesto
montgomery
montpelier
nashua
nashville
new bedford
new haven
new orleans
new york
newark
newport
norfolk
norman
oakland
odessa
ogden
oklahoma city
olympia
omaha
orlando
oxnard
pasadena
paterson
pensacola
peoria
philadelphia
phoenix
pittsburgh
pittsfield
plano
pocatello
portland
portsmouth
providence
provo
pueblo
queens
raleigh
rapid city
reno
richmond
riverside
roanoke
rochester
rockford
sacramento
saginaw
salem
salinas
salt lake city
san antonio
san bernardino
san diego
san francisco
san jose
santa ana
santa barbara
santa fe
santa rosa
savannah
schenectady
scottsdale
scranton
seattle
shreveport
sioux city
sioux falls
south bend
spokane
springfield
st. louis
st louis
st. paul
st paul
st. petersburg
stamford
staten island
stockton
syracuse
tacoma
tallahassee
tampa
tempe
toledo
topeka
trenton
tucson
tulsa
tuscaloosa
utica
vallejo
ventura
waco
waltham
warwick
washington
waterbury
wichita
wilmington
winston-salem
worcester
yakima
yonkers
york
youngstown
yuma
toronto
montreal
vancouver
mexico city
guadalajara
london
manchester
dublin
paris
berlin
madrid
rome
lisbon
warsaw
kyiv
kiev
moscow
istanbul
cairo
lagos
nairobi
accra
mumbai
delhi
new delhi
bangalore
chennai
karachi
lahore
dhaka
manila
hanoi
ho chi minh city
seoul
tokyo
beijing
shanghai
hong kong
taipei
sydney
melbourne
san juan
havana
santo domingo
port-au-prince
kingston
bogota
lima
caracas
sao paulo
buenos aires
tehran
baghdad
beirut
""")

STATE_NAMES = _phrases("""
alabama
alaska
arizona
arkansas
california
colorado
connecticut
delaware
district of columbia
florida
georgia
hawaii
idaho
illinois
indiana
iowa
kansas
kentucky
louisiana
maine
maryland
massachusetts
michigan
minnesota
mississippi
missouri
montana
nebraska
nevada
new hampshire
new jersey
new mexico
new york
north carolina
north dakota
ohio
oklahoma
oregon
pennsylvania
rhode island
south carolina
south dakota
tennessee
texas
utah
vermont
virginia
washington
west virginia
wisconsin
wyoming
puerto rico
""")

STATE_CODES = frozenset(
    """AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ
    NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY PR""".split()
)

STREET_SUFFIXES = _words("""
street st avenue ave av road rd boulevard blvd lane ln drive dr court ct way place pl terrace ter
circle cir highway hwy parkway pkwy trail trl square sq loop row path pike alley plaza turnpike
crescent cres expressway expy freeway fwy
""")

# Words that end a facility name ("Riverside General Hospital") ...
FACILITY_SUFFIXES = _phrases("""
hospital
medical center
medical centre
med ctr
health center
health centre
health system
health systems
healthcare
health care
health
clinic
clinics
infirmary
nursing home
nursing and rehabilitation center
nursing facility
rehabilitation center
rehabilitation hospital
rehab center
rehab
hospice
urgent care
pharmacy
drugstore
surgery center
surgical center
surgical associates
cancer center
cancer institute
heart institute
institute
care center
living center
assisted living
senior living
retirement community
retirement home
manor
medical group
medical associates
associates
family medicine
family practice
internal medicine
pediatrics
women's health
dialysis center
imaging center
imaging
radiology
laboratory
laboratories
labs
center
centre
university
college
school
elementary school
middle school
high school
academy
prison
correctional facility
jail
shelter
church
charities
freight
logistics
corporation
corp
inc
llc
company
ambulance
inn
lodge
mission
elementary
preschool
daycare
cardiology
dermatology
rheumatology
oncology
urology
neurology
orthopedics
orthopaedics
gastroenterology
pulmonology
nephrology
ophthalmology
eye associates
eye center
dermpath
packaging
roofing
construction
trucking
manufacturing
industries
services
bank
motors
restaurant
foods
""")

# ... and words that alone do not make a name an institution's ("Cardiology Clinic").
GENERIC_FACILITY_WORDS = _words("""
the of and for a an at in general regional community memorial university medical health care
hospital clinic center centre department dept unit service services emergency urgent primary
family internal medicine pediatric pediatrics women's womens children's childrens cardiology
oncology neurology pulmonary pulmonology gastroenterology nephrology dermatology endocrinology
rheumatology surgery surgical orthopedic orthopedics psychiatry psychiatric behavioral mental
heart cancer kidney lung brain spine eye vision dental wound infusion dialysis imaging radiology
rehabilitation rehab physical therapy sleep pain anticoagulation diabetes transplant trauma
maternity obstetrics gynecology labor delivery intensive critical step-down icu ed er or pacu
outpatient inpatient ambulatory specialty multispecialty associates group practice
institute laboratory lab labs pharmacy nursing home assisted living senior retirement care
hospice veterans affairs va state county city national public private main north south east west
central new old upper lower saint st mount mt good holy sacred device consult note visit report
admission intake interrogation summary cardiac social work gi ent ob gyn obgyn renal liver
hepatology vascular allergy heme onc peds psych ortho neuro cardio pulm endo rheum derm uro
""")

# Well-known institutions whose names carry no facility word.
KNOWN_FACILITIES = _phrases("""
mass general
massachusetts general
johns hopkins
kaiser permanente
kaiser
mount sinai
mt. sinai
mt sinai
cedars-sinai
md anderson
sloan kettering
memorial sloan kettering
dana-farber
brigham and women's
beth israel deaconess
beth israel
nyu langone
ucsf
ucla
mayo
cleveland clinic
walgreens
cvs
rite aid
walmart pharmacy
quest diagnostics
labcorp
planned parenthood
mgh
bwh
bidmc
upmc
chop
ohsu
""")

# Capitalised words that are not names even where a name is expected ("Dr. Smith Cardiology").
NOT_NAME_WORDS = _words("""
a an the and or of for to in on at by with from as is was be are were has had have not no yes
patient pt pts plan assessment history hpi ros exam physical labs lab imaging impression findings
diagnosis diagnoses procedure procedures medications medication meds allergies allergy vitals
subjective objective chief complaint disposition dispo follow followup follow-up return note notes
report summary discharge admission admitted consult consultation progress daily signed dictated
transcribed reviewed attending resident fellow intern nurse rn md do np pa phd pharmd team service
department dept clinic hospital center unit floor room bed icu ed er or ward home office
cardiology oncology neurology pulmonology pulmonary gastroenterology nephrology dermatology
endocrinology rheumatology surgery urology psychiatry pediatrics radiology pathology anesthesia
medicine internal family emergency geriatrics geriatric obstetrics gynecology orthopedics ent
social work case management physical therapy occupational speech nutrition chaplain pharmacy
monday tuesday wednesday thursday friday saturday sunday today tomorrow yesterday tonight
january february march april may june july august september october november december
jan feb mar apr jun jul aug sep sept oct nov dec
mother father son daughter wife husband brother sister partner spouse friend neighbor caller
parent parents guardian proxy contact family
he she they his her their him them it its this that these those who which what when where
mri ct cxr ekg ecg echo tte tee pet us xr cbc cmp bmp inr pt ptt
bp hr rr spo2 temp wt ht bmi
normal abnormal negative positive stable unchanged improved worse new old
left right bilateral
type insulin metformin aspirin heparin warfarin lisinopril
covid
tylenol motrin advil
medicare medicaid
ms ml mg kg cm mm
""")

# Everyday and clinical words that start sentences and fill headings ("Physical Exam", "Pain is"):
# a capitalised run made only of names' shapes, none of these, is taken for a person's name.
COMMON_WORDS = _words("""
about above absent according across active acute add added additional adequate adult advised after
again against age agreed agrees alert all allergic also alternative although always am ambulating
among amount an analysis anemia ankle another answer antibiotic antibiotics any appears applied
appropriate approximately are area arm around arrival arrived as ask asked aspiration assessed
associated at attempt available average awake away back bacteria bad based baseline be because
bed been before began being below benefit best better between bilateral biopsy birth bleeding blood
body bone both bowel brain breast breath breathing brief brought but by call called calm came can
cannot cardiac care case cause caused cell change changed changes check chest child chronic clear
clinical close code cold come comfortable comments communicated complete completed concern
condition confirmed consent consider considered contact continue continued control course cough
counseled counseling current currently daily data day days dear decision decreased deep degree
denied denies describes details development diet difficulty dilated direct discussed discussion
disease distress do does done dose down drainage drip drug due during each early edema education
effect either elevated else emergency end endorses enough equal erythema established estimated
evaluated evaluation even event events every evidence exam examination except exercise expected
explained exposure extremities eye eyes face failure fall falls family fatigue fever few final
findings fine first fluid focal follow for found four free frequency from full function further
gait gave general given go goals good grade great group had hand has have having head health hear
hearing heart held help her here high him his history hold home hospital hours how however
identified if illness imaging immediately improved improvement in increase increased independent
infection information initial injury inpatient instructions intact intake into is issues it its
joint just keep kidney known labs large last later left leg less level levels life like likely
limited line list little liver living long loss low lower lungs made main maintain make management
many may me meal means medical medication medications meet mental mild minimal minutes mobility
moderate monitor monitoring month months more morning most mouth moving much multiple muscle must my
near neck need needed needs negative neither nerve neuro never new next night no none normal not
note noted now number nutrition obtained occasional of off office often oral order ordered other
our out outpatient over overall overnight pain palpation past patient people per percent
performed period persistent physical place plan please plus positive possible post potential
present presented presents pressure prevent previous previously primary prior probably problem
problems procedure progress prompt provided pulmonary pulse quality quick range rate reason received
recent recently recommend recommended reduced regular related remains remote repeat reported
reports request required respiratory response rest result results return review reviewed right
risk room routine safe safety same saw scale scan schedule scheduled score screening second see
seen sensation service set several severe she short should shoulder side sign signed signs since
sinus site skin sleep slight slightly small so social soft some soon start started status stay
still stomach stool stop strength stress studies study such suggest support surgery swallowing
swelling symptoms system systems take taken taking target team test testing tests than that the
their them then therapy there these they thin things this those three through throughout time
times tissue to today together tolerated tolerating total toward transfer treatment trial two type
under unit until up upon upper urine us use used usual very visit vital vitals wake walk walking
want was water way we week weekly weeks weight well were what when where whether which while white
who whole will with within without work worse would wound year years yesterday you young your
review systems chief complaint course instructions impression interval objective subjective
assessment plan hpi pmh psh medications allergies physical exam general heent cardiovascular
respiratory abdomen abdominal musculoskeletal neurologic neurological psychiatric skin extremities
diagnosis diagnoses problem procedures disposition condition signature addendum attestation
insulin metformin lisinopril atorvastatin aspirin heparin warfarin apixaban tacrolimus prednisone
quetiapine sertraline levetiracetam ceftriaxone vancomycin acetaminophen ibuprofen oxycodone
morphine furosemide albuterol amoxicillin azithromycin glargine lispro
dermoscopy biopsy shave punch excision pathology dermatology ophthalmology oct npdr dme
polysomnography bronchoscopy endoscopy colonoscopy sigmoidoscopy spirometry thoracentesis paracentesis
echocardiogram angiography angiogram catheterization dialysis ultrasound
tdap mmr varicella influenza vaccine vaccines lot deltoid
parkinson glasgow coma stage grade cycle adverse fatigue nausea vomiting diarrhea
stable unchanged improving worsening resolved pending negative positive
doctor nurse resident attending student sister mother father daughter son wife husband
morning afternoon evening night noon midnight weekend electronically med rec
north south east west upper lower
english spanish french
""")

# Eponyms of diseases, signs and scores: names that are clinical vocabulary.
EPONYMS = _words("""
addison alzheimer apgar babinski baker barrett bell braxton brudzinski budd-chiari burkitt
charcot chiari cheyne-stokes conn crohn cushing denver dressler duchenne ehlers-danlos epley
ewing fallot glasgow gleason graves guillain-barre hashimoto hodgkin holter huntington kaposi
kawasaki kernig korsakoff kussmaul lyme marfan meniere murphy osler paget parkinson parkinsons
pott raynaud reiter reye romberg sjogren stevens-johnson tanner tourette trendelenburg turner
virchow von willebrand wegener wernicke whipple wilms wilson wolff-parkinson-white
""")

TITLES = _words("""
dr dr. doctor mr mr. mrs mrs. ms ms. miss mx mx. prof prof. professor sr sr. sister father fr fr.
rev rev. reverend pastor rabbi imam nurse
""")

CREDENTIALS = (
    "MD",
    "M.D.",
    "DO",
    "D.O.",
    "RN",
    "BSN",
    "MSN",
    "NP",
    "FNP",
    "FNP-BC",
    "ANP",
    "APRN",
    "CNM",
    "CRNA",
    "LPN",
    "LVN",
    "CNA",
    "PA",
    "PA-C",
    "PharmD",
    "RPh",
    "PhD",
    "PsyD",
    "DDS",
    "DMD",
    "DPM",
    "DPT",
    "PT",
    "OT",
    "OTR",
    "OTR/L",
    "SLP",
    "CCC-SLP",
    "RD",
    "RDN",
    "LD",
    "MSW",
    "LCSW",
    "LICSW",
    "LMSW",
    "LMFT",
    "LPC",
    "MBBS",
    "MPH",
    "FACC",
    "FACP",
    "FACS",
    "FCCP",
    "CCDS",
    "RRT",
    "EMT",
    "EMT-P",
    "CMA",
)

# "her daughter Maria", "Wife: Linda", "referred by his mother, Carmen Ramirez".
RELATION_WORDS = _words("""
mother father mom dad son daughter wife husband spouse partner fiance fiancee boyfriend girlfriend
brother sister sibling grandmother grandfather grandson granddaughter grandma grandpa aunt uncle
niece nephew cousin stepmother stepfather stepson stepdaughter friend neighbor roommate guardian
caregiver proxy
""")

# "Attending: ...", "seen by ...", "phlebotomist Ray": words after which a name is expected.
ROLE_WORDS = _phrases("""
patient
pt
name
patient name
pt name
attending
attending physician
resident
fellow
intern
pcp
primary care
primary care physician
primary care provider
referring physician
referring provider
referring
provider
physician
surgeon
assistant
anesthesia
anesthesiologist
consultant
cardiologist
oncologist
neurologist
nephrologist
pulmonologist
endocrinologist
gastroenterologist
psychiatrist
therapist
nurse
rn
charge nurse
case manager
social worker
sw
dictated by
signed by
electronically signed by
cosigned by
reviewed by
seen by
seen with
examined by
transcribed by
verified by
interrogated by
reconciled by
performed by
collected by
reported by
discussed with
spoke with
cc
contact
emergency contact
next of kin
nok
health care proxy
healthcare proxy
hcp
poa
caller
subscriber
guarantor
insured
interpreter
chaplain
pharmacist
phlebotomist
technician
tech
dietitian
witness
author
requesting physician
ordering physician
ordering provider
ordering
submitting physician
pathologist
radiologist
midwife
doula
aide
recipient
donor
participant
subject
coordinator
study coordinator
client
visitor
present
recorded by
minutes recorded by
given by
administered by
signed
parent/guardian
parent
employer contact
triage rn
""")

# Countries and regions: not identifiers under Safe Harbor (a state or larger), never a CITY.
COUNTRIES = _phrases("""
united states
usa
america
canada
mexico
guatemala
honduras
el salvador
cuba
haiti
dominican republic
jamaica
puerto rico
colombia
venezuela
brazil
peru
argentina
chile
ecuador
england
scotland
ireland
france
germany
spain
portugal
italy
poland
ukraine
russia
greece
turkey
egypt
nigeria
ghana
kenya
ethiopia
somalia
india
pakistan
bangladesh
china
japan
korea
vietnam
philippines
thailand
iran
iraq
syria
lebanon
israel
afghanistan
australia
new zealand
africa
europe
asia
""")

# Surrogate values: realistic, and never taken from the note itself.
FAKE_STREETS = (
    "Maple",
    "Oak",
    "Cedar",
    "Willow",
    "Birch",
    "Chestnut",
    "Hawthorn",
    "Juniper",
    "Sycamore",
    "Magnolia",
    "Laurel",
    "Spruce",
    "Aspen",
    "Poplar",
    "Alder",
    "Hickory",
    "Cypress",
    "Dogwood",
    "Linden",
    "Redwood",
)
FAKE_FACILITIES = (
    "Northgate Medical Center",
    "Cedar Valley Hospital",
    "Lakeshore Community Hospital",
    "Pinecrest Health Center",
    "Silver Creek Clinic",
    "Meadowbrook Medical Group",
    "Harbor Point Hospital",
    "Stonebridge Family Practice",
    "Brightwater Rehabilitation Center",
    "Fairhaven Nursing Home",
    "Westbrook Pharmacy",
    "Elmwood Surgical Center",
)
FAKE_CITIES = (
    "Fairview",
    "Riverton",
    "Greenfield",
    "Ashford",
    "Clearwater",
    "Millbrook",
    "Oakdale",
    "Brookfield",
    "Kingsport",
    "Lakewood",
    "Maplewood",
    "Westfield",
    "Hillsboro",
    "Centerville",
    "Georgetown",
    "Milford",
)
